"""The engine: runs each operation of the contract for a principal, after checking it may."""
