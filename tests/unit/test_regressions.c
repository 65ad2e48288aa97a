/* Regression tests for bugs found by the fuzzers (tests/fuzz/) and the hardening review,
 * each named after the target that found it. Inputs are inline: they are small. */
#include "unit.h"

#include <jansson.h>
#include <stdlib.h>

#include "error.h"
#include "sync_op.h"

/* fuzz_server (LeakSanitizer): an op refused after its feature id was decoded kept that id
 * allocated, and the store's push never disposes refused ops: 16 bytes leaked per refused
 * op, for anyone who can send a push. A refused op must own nothing. */
TEST(fuzz_server_refused_op_owns_nothing)
{
	static const char *const refused[] = {
		/* the feature's id differs from metadata.id */
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"Rk2Qa\",\"layerId\":\"l1\"},"
		"\"value\":{\"type\":\"Feature\",\"id\":\"Rk3Qa\",\"geometry\":null,\"properties\":{}},"
		"\"hlc\":\"018f3a2b4c5d-0000-alice\",\"op_id\":\"a-1\"}",
		/* an upsert that is not a Feature */
		"{\"verb\":\"upsert\",\"subject\":\"feature\",\"metadata\":{\"id\":\"Rk3Qa\",\"layerId\":\"l1\"},"
		"\"value\":{\"type\":\"Point\"},\"hlc\":\"018f3a2b4c5d-0000-alice\",\"op_id\":\"a-2\"}",
		/* an update of the feature's id */
		"{\"verb\":\"update\",\"subject\":\"feature\",\"metadata\":{\"id\":42,\"layerId\":\"l1\"},"
		"\"key\":\"id\",\"value\":1,\"hlc\":\"018f3a2b4c5d-0000-alice\",\"op_id\":\"a-3\"}",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		json_t *op = json_loads(refused[i], 0, NULL);
		CHECK(op != NULL);
		umap_sync_op parsed;
		CHECK_INT(umap_sync_op_parse(&parsed, op, i), UMAP_EINVALID);
		CHECK(parsed.feature == NULL); /* no dispose here, as in the store's push */
		json_decref(op);
	}
}

int main(void)
{
	RUN(fuzz_server_refused_op_owns_nothing);
	return UNIT_DONE();
}
