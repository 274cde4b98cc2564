"""Plain HTTP requests to a service's public endpoints, errors included."""
import urllib.error
import urllib.request


def get(base, path, method="GET"):
    """``(status, headers, body)`` of ``method`` on ``base + path``; 4xx/5xx too."""
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
