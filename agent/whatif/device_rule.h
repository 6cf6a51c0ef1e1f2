#pragma once
// Internal: evaluates a CA device filter rule (e.g. `device.trustType -eq "ServerAD" -and
// device.isCompliant -eq True`) against the deviceInfo properties the caller gave. A property the
// caller did not give, or a rule this evaluator does not understand, yields `unknown`.
#include <string>

#include <nlohmann/json.hpp>

namespace connguard::whatif {

enum class rule_match { no, yes, unknown };

rule_match evaluate_device_rule(const std::string& rule, const nlohmann::json& properties);

}  // namespace connguard::whatif
