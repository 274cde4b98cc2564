"""The baseline for RPC: a bare nameko service, nothing of ours in the way."""
from nameko.rpc import rpc


class EchoService:
    name = "bench_echo"

    @rpc
    def echo(self, value=None):
        return value
