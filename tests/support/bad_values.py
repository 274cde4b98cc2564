"""Bad values every bad-input table tries: ids that are not ids, and the huge string."""
HUGE = "é" * 100_000  # 100,000 characters, 200 kB as UTF-8
UNKNOWN_ID = "6f1c1d4e-8b7a-4c2e-9a3b-000000000000"  # well-formed, matches nothing
MALFORMED_IDS = {
    "word": "nope", "empty": "", "spaces": "   ", "int": 42, "float": 4.2, "none": None,
    "bool": True, "list": [UNKNOWN_ID], "dict": {"id": UNKNOWN_ID}, "huge": "1" * 100_000,
    "huge-unicode": HUGE, "bad-hex": "00000000-0000-0000-0000-00000000000g",
    "too-long": UNKNOWN_ID + "0", "truncated": UNKNOWN_ID[:-1], "sql": "' OR '1'='1",
    "nul": UNKNOWN_ID[:-1] + "\x00",
}
