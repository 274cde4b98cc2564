"""The table of docs/contract.md, "Who may call what", from shared.access.METHOD_RULES.

    python -m devtools.access        print the table (paste it into docs/contract.md)

tests/unit/test_access.py checks that every row printed here is in the contract.
"""
from shared import access

BOUND = {
    "arg": "a member: only their own `{}`",
    "field": "a member: only their own `{}.{}`",
    "filter": "a member: narrowed to their own",
    "result": "a member: only their own (another's is `NotFound`)",
}


def bound_note(rule):
    notes = []
    if rule.own_member:
        kind, *names = rule.own_member
        notes.append(BOUND[kind].format(*names))
    if rule.as_assessor:
        notes.append("an assessor: as themselves (`data.assessor_id` is theirs)")
    return "; ".join(notes)


def table_rows():
    rows = []
    for key, rule in access.METHOD_RULES.items():
        roles = "anyone, no identity" if access.PUBLIC in rule.roles else ", ".join(
            f"`{role}`" for role in sorted(access.roles_allowed(rule) - {access.ADMIN}))
        rows.append(f"| `{key}` | {roles} | {'change' if rule.changes else 'read'} | "
                    f"{bound_note(rule)} |")
    return rows


def main():
    print("| method | roles (besides `admin`, which may call everything) | kind | bound clients |")
    print("|---|---|---|---|")
    for row in table_rows():
        print(row)


if __name__ == "__main__":
    main()
