#include "tests/support/store_location.h"

#include <cstdlib>
#include <string_view>

#include "tests/support/postgres.h"

namespace connguard::test {

bool testing_postgres() {
    const char* v = std::getenv("CONNGUARD_TEST_STORE");
    return v != nullptr && std::string_view(v) == "postgres";
}

std::string store_unavailable_reason() {
    if (!testing_postgres()) return {};
    return postgres_server::unavailable_reason();
}

std::string fresh_store_location(const std::filesystem::path& dir, const std::string& file) {
    if (!testing_postgres()) return (dir / file).string();
    return shared_postgres().create_database();
}

}  // namespace connguard::test
