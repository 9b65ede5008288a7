// llama.cpp's perplexity tool, unchanged (its implementation library, llama-perplexity-impl), with one addition:
// the log is drained before the process exits.
//
// llama.cpp's common log writes from a worker thread, and its singleton is deliberately never destroyed
// (common/log.cpp, common_log_main), so the tool's last lines, "Final estimate: PPL = ..." among them, can be lost
// when main returns before the worker has written them. On a busy machine that happens: bloom4j's tests saw the
// final line missing from llama-perplexity's output with exit status 0. Pausing the log joins the worker after it
// has written everything queued.

#include "log.h"

int llama_perplexity(int argc, char ** argv);  // tools/perplexity/perplexity.cpp

int main(int argc, char ** argv) {
    const int rc = llama_perplexity(argc, argv);
    common_log_pause(common_log_main());
    return rc;
}
