#include "agent/core/config_check.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "agent/graph/jwt.h"

namespace connguard::agent {
namespace {

std::string field_error(const tenant_config& c, const char* field, const std::string& reason) {
    return c.file.string() + ": field '" + field + "': " + reason;
}

std::string writable_folder_problem(const std::filesystem::path& dir) {
    std::error_code ec;
    if (std::filesystem::exists(dir, ec)) {
        if (!std::filesystem::is_directory(dir, ec)) return dir.string() + ": not a folder";
        if (::access(dir.c_str(), W_OK | X_OK) != 0) return dir.string() + ": not writable by this user";
        return {};
    }
    const auto parent = dir.parent_path().empty() ? std::filesystem::path(".") : dir.parent_path();
    if (!std::filesystem::is_directory(parent, ec))
        return dir.string() + ": does not exist, and neither does its parent " + parent.string();
    if (::access(parent.c_str(), W_OK | X_OK) != 0)
        return dir.string() + ": does not exist and cannot be created (" + parent.string() + " is not writable)";
    return {};
}

}  // namespace

status check_startable(const tenant_config& c, std::chrono::system_clock::time_point now) {
    std::string errors;
    auto add = [&](const std::string& e) { errors += (errors.empty() ? "" : "\n") + e; };

    if (!c.certificate_file.empty()) {
        std::ifstream in(c.certificate_file, std::ios::binary);
        std::stringstream pem;
        pem << in.rdbuf();
        if (!in) {
            add(field_error(c, "app.certificateFile", c.certificate_file.string() + ": cannot read it"));
        } else {
            graph::assertion_params p;
            p.client_id = c.client_id;
            p.audience = c.authority_url + "/" + c.azure_tenant_id + "/oauth2/v2.0/token";
            p.certificate_pem = pem.str();
            p.private_key_pem = c.private_key_pem;
            p.now = now;
            auto assertion = graph::build_client_assertion(p);
            if (!assertion) {
                const char* field =
                    assertion.err().code == "graph.private_key" ? "app.privateKeyFile" : "app.certificateFile";
                add(field_error(c, field, "cannot sign a client assertion: " + assertion.err().message));
            }
        }
    }
    if (!c.state_dir.empty())
        if (auto problem = writable_folder_problem(c.state_dir); !problem.empty()) add(field_error(c, "stateDir", problem));
    if (!c.http_ca_file.empty() && ::access(c.http_ca_file.c_str(), R_OK) != 0)
        add(field_error(c, "graph.caFile", c.http_ca_file.string() + ": missing or not readable"));

    if (!errors.empty()) return make_error("config.not_startable", errors);
    return {};
}

}  // namespace connguard::agent
