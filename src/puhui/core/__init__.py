"""Domain-independent building blocks. Nothing in here imports a domain package."""
