"""What is not a domain: HTTP and CSV helpers, the Lua script runner, security headers, log
filters and periodic jobs. Domains import from here; nothing here imports a domain."""
