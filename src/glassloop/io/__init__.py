"""Ring 2 I/O: transports, servers and OS resources over the loop."""
