#pragma once
// The console's web files (coordinator/console/web/), compiled into the binary at build time by
// cmake/embed_assets.cmake: no build step for users, nothing fetched from a CDN.
#include <string_view>

namespace connguard::coord::console {

struct asset {
    std::string_view name;          ///< file name: "index.html", "app.js", "app.css"
    std::string_view content_type;  ///< with charset
    std::string_view body;
};

/// The embedded file with this name; nullptr when there is none.
const asset* find_asset(std::string_view name);

}  // namespace connguard::coord::console
