// Compiles tests/CMakeLists.txt's precompiled header once; every test executable reuses it.
