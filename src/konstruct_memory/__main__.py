from konstruct_memory.cli import main

main()
