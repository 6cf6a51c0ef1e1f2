// Anchor of connguard_lib_pch: the target that builds the precompiled header every ConnGuard
// library and binary reuses (common/CMakeLists.txt). No code of its own.
