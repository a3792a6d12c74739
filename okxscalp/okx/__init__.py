"""OKX v5 wire format and client: constants, auth, wire parsing, REST and WebSocket."""
