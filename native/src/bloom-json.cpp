#include "bloom-json.h"

#include "bloom-error.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace bloom {

json read_json_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail(BLOOM_ERR_IO, "cannot open %s: %s", path.c_str(), std::strerror(errno));
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
        fail(BLOOM_ERR_IO, "cannot read %s", path.c_str());
    }
    return parse_json(ss.str(), path);
}

json parse_json(const std::string & text, const std::string & what) {
    try {
        return json::parse(text);
    } catch (const json::exception & e) {
        // Not only parse_error: a number beyond double's range ("1e400") is an out_of_range thrown while parsing.
        fail(BLOOM_ERR_FORMAT, "%s is not valid JSON: %s", what.c_str(), e.what());
    }
}

} // namespace bloom
