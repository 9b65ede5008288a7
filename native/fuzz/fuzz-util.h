// Helpers shared by the fuzz targets and the seed writer: a private scratch directory on tmpfs, the tiny
// tokenizer.json every fuzzed model directory gets, the split of one fuzz input into several files, and the steps
// both targets take once a model loads (a short decode, a convert-and-reload round trip) with their verdicts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct bloom_model;

namespace bloom_fuzz {

// A directory of this process's own, created on first use: under /dev/shm when it is writable (the readers
// open paths, and tmpfs keeps writing a file per input cheap), else under $TMPDIR or /tmp. Removed at exit.
const std::string & scratch_dir();

// scratch_dir()/name as a directory (created if needed); returns its path.
std::string scratch_subdir(const std::string & name);

// Writes bytes to the file at path, replacing what was there; returns the path. Aborts on an I/O error: the
// fuzz run is useless if its inputs cannot be written.
std::string write_file(const std::string & path, const void * data, size_t size);
std::string write_file(const std::string & path, std::string_view text);

// Removes the file at path if it exists (a file a previous input wrote and this one does not).
void remove_file(const std::string & path);

// A BLOOM tokenizer.json with the four special tokens and a handful of byte-level BPE tokens (16 ids): small
// enough that a model over it is a few kilobytes, and accepted by bloom's tokenizer loader.
extern const char * const k_tiny_tokenizer_json;
constexpr int k_tiny_tokenizer_tokens = 16;

// With BLOOM_FUZZ_VERBOSE=1 in the environment the targets say what became of each input (loaded, or the error
// message), which is how a seed is checked to reach deep and how a finding is triaged. Off while fuzzing.
void note(const char * what, const char * detail);

// Converts the model at in_path (as bloom_model_load takes it) to a GGUF file of the file type `pick` selects (all
// of bloom_ftype in turn), on one thread, and loads the result: a file bloom_convert wrote that bloom_model_load
// refuses is a finding (abort), as is BLOOM_ERR_INTERNAL from either.
void convert_round_trip(const std::string & in_path, uint32_t pick);

// A number derived from the input, to pick among variants deterministically (a reproducer replays the same way).
uint32_t input_hash(const uint8_t * data, size_t size);

// Turns a C API status into the fuzz verdict: BLOOM_ERR_INTERNAL means an exception other than bloom::error
// escaped a reader (a parser's own exception, a std::out_of_range, ...) or a programmer error was hit, and that is a
// finding, so it aborts with the message; every other status is an expected outcome and is noted.
void check_status(int32_t status, const char * what);

// Silences bloom's and ggml's logging: expected load errors would otherwise flood the fuzzer's output.
void quiet_logs();

// Runs a loaded model for two tokens in a 4-token context on one thread and reads every logit. Error statuses are
// fine (a model may load and still be refused a context); crashes and sanitizer reports are not.
void run_model(bloom_model * model);

// Inputs that hold several files put them one after another, each followed by this separator; the last one runs
// to the end of the input. The separator is unlikely in JSON and mutations rarely forge it.
constexpr std::string_view k_file_separator = "\n--bloom-fuzz-next-file--\n";

// Splits data into at most max_parts parts at k_file_separator (the last part keeps any further separators).
std::vector<std::string_view> split_files(const uint8_t * data, size_t size, size_t max_parts);

} // namespace bloom_fuzz
