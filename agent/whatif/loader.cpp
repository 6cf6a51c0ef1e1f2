// The only file of connguard_whatif that touches the file system.
#include "agent/whatif/loader.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/text.h"

namespace connguard::whatif {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

result<std::string> utf16_to_utf8(const std::string& bytes, size_t start, bool little_endian) {
    if ((bytes.size() - start) % 2 != 0) return make_error("whatif.encoding", "UTF-16 text with an odd number of bytes");
    std::string out;
    out.reserve((bytes.size() - start) / 2);
    auto unit = [&](size_t i) -> std::uint32_t {
        const auto a = static_cast<unsigned char>(bytes[i]);
        const auto b = static_cast<unsigned char>(bytes[i + 1]);
        return little_endian ? (a | (b << 8)) : ((a << 8) | b);
    };
    for (size_t i = start; i < bytes.size(); i += 2) {
        std::uint32_t u = unit(i);
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (i + 3 >= bytes.size()) return make_error("whatif.encoding", "UTF-16 text ends inside a surrogate pair");
            const std::uint32_t lo = unit(i + 2);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return make_error("whatif.encoding", "invalid UTF-16 surrogate pair at byte " + std::to_string(i));
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            i += 2;
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            return make_error("whatif.encoding", "invalid UTF-16 surrogate at byte " + std::to_string(i));
        }
        append_utf8(out, u);
    }
    return out;
}

}  // namespace

result<std::string> decode_text(const std::string& bytes) {
    if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xEF && static_cast<unsigned char>(bytes[1]) == 0xBB &&
        static_cast<unsigned char>(bytes[2]) == 0xBF)
        return bytes.substr(3);
    if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xFE)
        return utf16_to_utf8(bytes, 2, true);
    if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0xFE && static_cast<unsigned char>(bytes[1]) == 0xFF)
        return utf16_to_utf8(bytes, 2, false);
    if (bytes.size() >= 2 && (bytes[0] == '\0' || bytes[1] == '\0'))
        return make_error("whatif.encoding", "looks like UTF-16 without a byte order mark; save it with a BOM or as UTF-8");
    return bytes;
}

result<json> read_json_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error("whatif.io", file.string() + ": cannot read the file");
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) return make_error("whatif.io", file.string() + ": read error");
    auto text = decode_text(buf.str());
    if (!text) return make_error(text.err().code, file.string() + ": " + text.err().message);
    try {
        return json::parse(text.value());
    } catch (const json::parse_error& e) {
        const std::string& t = text.value();
        const size_t at = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, t.size());
        size_t line = 1, column = 1;
        for (size_t i = 0; i < at; ++i) {
            if (t[i] == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
        }
        std::string what = e.what();
        if (auto pos = what.find("syntax error"); pos != std::string::npos) what = what.substr(pos);
        return make_error("whatif.json", file.string() + ": invalid JSON at line " + std::to_string(line) + ", column " +
                                             std::to_string(column) + ": " + what);
    } catch (const std::exception& e) {
        return make_error("whatif.json", file.string() + ": invalid JSON: " + e.what());
    }
}

result<std::vector<fs::path>> policy_files(const fs::path& path) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return make_error("whatif.io", path.string() + ": no such file or folder");
    if (!fs::is_directory(st)) return std::vector<fs::path>{path};
    std::vector<fs::path> files;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        const auto& p = it->path();
        if (to_lower(p.extension().string()) == ".json" && it->is_regular_file()) files.push_back(p);
    }
    if (ec) return make_error("whatif.io", path.string() + ": cannot list the folder: " + ec.message());
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
        return a.filename().string() < b.filename().string();
    });
    return files;
}

result<std::vector<loaded_policy>> load_policies(const fs::path& path) {
    auto files = policy_files(path);
    if (!files) return files.err();
    std::vector<loaded_policy> out;
    for (const auto& f : files.value()) {
        auto j = read_json_file(f);
        if (!j) return j.err();
        auto ps = parse_policies(j.value());
        if (!ps) return make_error(ps.err().code, f.string() + ": " + ps.err().message);
        for (auto& p : ps.value()) out.push_back({std::move(p), f});
    }
    return out;
}

}  // namespace connguard::whatif
