#pragma once
// Synthetic tenant scenarios for host-mode tests and benchmarks (200 or 1,000 tenants).
#include <cstdint>
#include <filesystem>

#include "common/result.h"

namespace connguard::graph_sim {

/// Writes N scenario files tenant-0001.json ... into `dir` (created when missing). Each tenant has
/// its own tenant id, domain, agent app (client secret, the read and remediation permissions),
/// connection account (svc-connguard@<domain>, public-client ROPC app) and a handful of users, groups and
/// CA policies; a deterministic mix (by `seed`) of healthy tenants and tenants with a problem for
/// the connection account (MFA policy, Security Defaults + admin role, per-user MFA). Also writes
/// <dir>-index.json next to the folder: [{tenantId, domain, appId, clientSecret, connectionAccount, password, publicClientAppId, problem}]
/// so a test or benchmark can build agent configs.
status generate_tenants(std::size_t n, const std::filesystem::path& dir, std::uint64_t seed);

}  // namespace connguard::graph_sim
