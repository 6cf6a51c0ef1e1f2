#include "agent/core/config_check.h"

#include <fstream>
#include <sstream>

#include "agent/graph/jwt.h"
#include "common/file_checks.h"

namespace connguard::agent {
namespace {

std::string field_error(const tenant_config& c, const char* field, const std::string& reason) {
    return c.file.string() + ": field '" + field + "': " + reason;
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
        if (auto st = check_writable_folder(c.state_dir); !st) add(field_error(c, "stateDir", st.err().message));
    if (!c.http_ca_file.empty())
        if (auto st = check_readable_file(c.http_ca_file); !st) add(field_error(c, "graph.caFile", st.err().message));

    if (!errors.empty()) return make_error("config.not_startable", errors);
    return {};
}

}  // namespace connguard::agent
