// JSON files (config.json, tokenizer.json, the safetensors index) through nlohmann/json, with errors that
// name the file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace bloom {

using json = nlohmann::json;

// Reads and parses a JSON file. Throws bloom::error: BLOOM_ERR_IO when it cannot be read, BLOOM_ERR_FORMAT
// (with the parser's position) when it is not JSON.
json read_json_file(const std::string & path);

// Reads and parses JSON text; `what` names the source in errors.
json parse_json(const std::string & text, const std::string & what);

} // namespace bloom
