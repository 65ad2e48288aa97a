/* bench/gen: writes deterministic uMap-like GeoJSON layers (and edited versions) for make bench.
 * Same seed, size and variant give byte-identical output on every machine; needs only libc. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every feature is derived from (seed, index) alone, so an edited version can rebuild any
 * base feature and change it without generating the whole base first. */

enum variant { V_BASE, V_EDIT, V_OURS, V_THEIRS, V_REV10, V_MERGED };
enum geom { G_POINT, G_LINE, G_POLYGON };
enum change { C_NONE = -1, C_CAPACITY, C_NAME, C_GEOMETRY, C_DESCRIPTION, C_DROP_KEY, C_KIND_OPTIONS };

#define MAX_VERTS 16
#define ID_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define ID_SPACE 916132832ULL /* 62^5: every 5-char uMap id */

struct feature {
	char id[6];
	enum geom geom;
	int nverts;
	int64_t x[MAX_VERTS + 1], y[MAX_VERTS + 1]; /* micro-degrees */
	char name[96];
	const char *kind;
	int capacity; /* -1: absent */
	int covered; /* -1: absent, 0/1 */
	const char *operator_name; /* NULL: absent */
	char description[256]; /* "": absent */
	const char *opening_hours; /* NULL: absent */
	int options; /* index into the per-geometry option tables, -1: none */
};

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct rng {
	uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
	r->state += 0x9e3779b97f4a7c15ULL;
	uint64_t z = r->state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

static uint64_t feature_hash(uint64_t seed, uint64_t index, uint64_t salt)
{
	return splitmix(splitmix(seed ^ (salt * 0x632be59bd9b4e019ULL)) ^ index);
}

/* An affine map modulo 62^5 is a bijection when the factor is coprime with 2 and 31,
 * so distinct indexes always get distinct ids. */
static void make_id(char out[6], uint64_t seed, uint64_t index)
{
	uint64_t v = (index * 387420489ULL + splitmix(seed) % ID_SPACE) % ID_SPACE;
	for (int k = 4; k >= 0; k--) {
		out[k] = ID_ALPHABET[v % 62];
		v /= 62;
	}
	out[5] = '\0';
}

static const char *const street_types[] = { "Rue", "Avenue", "Place", "Quai", "Cours", "Boulevard",
	"Impasse", "Chemin", "Montée", "Passage" };
static const char *const street_names[] = { "Bellecour", "Victor Hugo", "de la République",
	"Garibaldi", "Jean Jaurès", "des Brotteaux", "de Saxe", "Gambetta", "Lafayette", "de la Part-Dieu",
	"de la Croix-Rousse", "Saint-Jean", "Perrache", "Monplaisir", "de Vaise", "de Gerland",
	"de la Confluence", "des Célestins", "de la Guillotière", "Foch", "Marc Bloch", "Paul Bert",
	"des Terreaux", "Sainte-Catherine", "Mercière", "du Plat", "Duguesclin", "Créqui",
	"Servient", "Vendôme", "Masséna", "Tête d'Or" };
static const char *const point_kinds[] = { "bicycle_parking", "bench", "drinking_water", "toilets",
	"shop", "cafe", "school", "library", "bus_stop", "recycling" };
static const char *const line_kinds[] = { "cycleway", "footway", "bus_route", "tramway" };
static const char *const polygon_kinds[] = { "park", "building", "parking_area", "playground" };
static const char *const operators[] = { "Métropole de Lyon", "SNCF", "TCL", "Ville de Lyon",
	"Université Lyon 2", "Université Jean Moulin", "Vélo'v", "private" };
static const char *const phrases[] = { "Secure shelter, badge access.", "Open to the public.",
	"Lit at night.", "Maintained by the city.", "Temporarily closed for works.",
	"Step-free access from the street.", "Shared with the market on Sundays.",
	"Reported by volunteers in 2024.", "Check the sign for winter hours.",
	"Busy at rush hour.", "Surveyed on foot.", "Entrance on the courtyard side." };
static const char *const hours[] = { "Mo-Fr 08:00-19:00", "24/7", "Mo-Sa 07:30-20:30; Su off",
	"sunrise-sunset" };
static const char *const point_options[] = { "{\"color\":\"#e7298a\",\"iconClass\":\"Drop\"}",
	"{\"color\":\"#1b9e77\",\"iconClass\":\"Circle\",\"showLabel\":true}",
	"{\"iconUrl\":\"/static/umap/img/bike.svg\",\"color\":\"#d95f02\"}" };
static const char *const line_options[] = { "{\"color\":\"#1b9e77\",\"weight\":4,\"dashArray\":\"5,10\"}",
	"{\"color\":\"#7570b3\",\"weight\":6,\"opacity\":0.8}" };
static const char *const polygon_options[] = { "{\"fillColor\":\"#66a61e\",\"fillOpacity\":0.4}",
	"{\"color\":\"#e6ab02\",\"fill\":true,\"stroke\":false}" };
static const char *const new_options = "{\"color\":\"#a6761d\",\"iconClass\":\"Ball\",\"popupShape\":\"Panel\"}";

/* cos and sin of the 16 compass directions, times 1000: integers keep the output exact. */
static const int cos16[16] = { 1000, 924, 707, 383, 0, -383, -707, -924, -1000, -924, -707, -383, 0, 383, 707, 924 };
#define SIN16(d) cos16[((d) + 12) % 16]

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void make_feature(struct feature *f, uint64_t seed, uint64_t index)
{
	struct rng r = { feature_hash(seed, index, 1) };
	memset(f, 0, sizeof(*f));
	make_id(f->id, seed, index);
	uint32_t g = rng_below(&r, 100);
	f->geom = g < 70 ? G_POINT : g < 90 ? G_LINE : G_POLYGON;
	int64_t cx = 4700000 + rng_below(&r, 300000), cy = 45650000 + rng_below(&r, 200000);
	if (f->geom == G_POINT) {
		f->nverts = 1;
		f->x[0] = cx;
		f->y[0] = cy;
	} else if (f->geom == G_LINE) {
		f->nverts = 2 + (int)rng_below(&r, 5);
		f->x[0] = cx;
		f->y[0] = cy;
		for (int k = 1; k < f->nverts; k++) {
			f->x[k] = f->x[k - 1] + (int64_t)rng_below(&r, 1601) - 800;
			f->y[k] = f->y[k - 1] + (int64_t)rng_below(&r, 1201) - 600;
		}
	} else {
		/* One vertex per arc of the circle, at increasing angles: a star-shaped ring that is
		 * simple and counterclockwise, as RFC 7946's right-hand rule wants exteriors. */
		int k = 4 + (int)rng_below(&r, 4);
		int radius = 100 + (int)rng_below(&r, 500);
		for (int j = 0; j < k; j++) {
			int lo = j * 16 / k, hi = (j + 1) * 16 / k;
			int dir = lo + (int)rng_below(&r, (uint32_t)(hi - lo));
			int rad = radius * (70 + (int)rng_below(&r, 31)) / 100;
			f->x[j] = cx + (int64_t)rad * cos16[dir] / 1000;
			f->y[j] = cy + (int64_t)rad * SIN16(dir) / 1000;
		}
		f->x[k] = f->x[0];
		f->y[k] = f->y[0];
		f->nverts = k + 1;
	}
	snprintf(f->name, sizeof(f->name), "%s %s %" PRIu32,
		street_types[rng_below(&r, COUNT(street_types))],
		street_names[rng_below(&r, COUNT(street_names))], 1 + rng_below(&r, 240));
	if (f->geom == G_POINT)
		f->kind = point_kinds[rng_below(&r, COUNT(point_kinds))];
	else if (f->geom == G_LINE)
		f->kind = line_kinds[rng_below(&r, COUNT(line_kinds))];
	else
		f->kind = polygon_kinds[rng_below(&r, COUNT(polygon_kinds))];
	f->capacity = rng_below(&r, 100) < 60 ? (int)rng_below(&r, 400) : -1;
	f->covered = rng_below(&r, 100) < 45 ? (int)rng_below(&r, 2) : -1;
	f->operator_name = rng_below(&r, 100) < 70 ? operators[rng_below(&r, COUNT(operators))] : NULL;
	if (rng_below(&r, 100) < 55) {
		int n = 1 + (int)rng_below(&r, 2);
		size_t len = 0;
		for (int k = 0; k < n; k++)
			len += (size_t)snprintf(f->description + len, sizeof(f->description) - len, "%s%s",
				k ? " " : "", phrases[rng_below(&r, COUNT(phrases))]);
	}
	f->opening_hours = rng_below(&r, 100) < 25 ? hours[rng_below(&r, COUNT(hours))] : NULL;
	if (rng_below(&r, 100) < 15) {
		size_t n = f->geom == G_POINT ? COUNT(point_options) : f->geom == G_LINE ? COUNT(line_options)
											   : COUNT(polygon_options);
		f->options = (int)rng_below(&r, (uint32_t)n);
	} else {
		f->options = -1;
	}
}

static void change_feature(struct feature *f, enum change c, uint64_t seed, uint64_t index)
{
	struct rng r = { feature_hash(seed, index, 2 + (uint64_t)c) };
	switch (c) {
	case C_NONE:
		break;
	case C_CAPACITY:
		f->capacity = f->capacity < 0 ? (int)rng_below(&r, 50) : f->capacity + 1 + (int)rng_below(&r, 20);
		break;
	case C_NAME:
		snprintf(f->name, sizeof(f->name), "%s %s %" PRIu32 " (renamed)",
			street_types[rng_below(&r, COUNT(street_types))],
			street_names[rng_below(&r, COUNT(street_names))], 1 + rng_below(&r, 240));
		break;
	case C_GEOMETRY: {
		int64_t dx = (int64_t)rng_below(&r, 201) - 100, dy = (int64_t)rng_below(&r, 201) - 100;
		if (dx == 0)
			dx = 7;
		if (f->geom == G_LINE) {
			int k = (int)rng_below(&r, (uint32_t)f->nverts);
			f->x[k] += dx;
			f->y[k] += dy;
		} else {
			for (int k = 0; k < f->nverts; k++) {
				f->x[k] += dx;
				f->y[k] += dy;
			}
		}
		break;
	}
	case C_DESCRIPTION:
		snprintf(f->description, sizeof(f->description), "%s Updated: %s",
			phrases[rng_below(&r, COUNT(phrases))], phrases[rng_below(&r, COUNT(phrases))]);
		break;
	case C_DROP_KEY:
		if (f->description[0])
			f->description[0] = '\0';
		else if (f->covered >= 0)
			f->covered = -1;
		else
			f->capacity = f->capacity < 0 ? 12 : f->capacity + 3;
		break;
	case C_KIND_OPTIONS:
		f->kind = f->geom == G_POINT ? point_kinds[rng_below(&r, COUNT(point_kinds))]
						 : f->geom == G_LINE ? line_kinds[rng_below(&r, COUNT(line_kinds))]
								     : polygon_kinds[rng_below(&r, COUNT(polygon_kinds))];
		f->options = 1000; /* new_options */
		break;
	}
}

static int write_fail;

static void put(const char *s)
{
	if (fputs(s, stdout) == EOF)
		write_fail = 1;
}

static void put_coord(int64_t micro)
{
	char buf[32];
	int64_t a = micro < 0 ? -micro : micro;
	int64_t whole = a / 1000000, frac = a % 1000000;
	int n = snprintf(buf, sizeof(buf), "%s%" PRId64, micro < 0 ? "-" : "", whole);
	if (frac) {
		char digits[8];
		snprintf(digits, sizeof(digits), "%06" PRId64, frac);
		int end = 6;
		while (digits[end - 1] == '0')
			end--;
		digits[end] = '\0';
		snprintf(buf + n, sizeof(buf) - (size_t)n, ".%s", digits);
	}
	put(buf);
}

static void put_string(const char *s)
{
	/* The generator's own texts never need escapes beyond these two. */
	put("\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			put("\\");
		char c[2] = { *s, 0 };
		put(c);
	}
	put("\"");
}

static void put_pair(const int64_t *x, const int64_t *y, int k)
{
	put("[");
	put_coord(x[k]);
	put(",");
	put_coord(y[k]);
	put("]");
}

static void write_feature(const struct feature *f)
{
	char num[32];
	put("{\"type\":\"Feature\",\"id\":");
	put_string(f->id);
	put(",\"properties\":{\"name\":");
	put_string(f->name);
	put(",\"kind\":");
	put_string(f->kind);
	if (f->capacity >= 0) {
		snprintf(num, sizeof(num), ",\"capacity\":%d", f->capacity);
		put(num);
	}
	if (f->covered >= 0)
		put(f->covered ? ",\"covered\":true" : ",\"covered\":false");
	if (f->operator_name) {
		put(",\"operator\":");
		put_string(f->operator_name);
	}
	if (f->description[0]) {
		put(",\"description\":");
		put_string(f->description);
	}
	if (f->opening_hours) {
		put(",\"opening_hours\":");
		put_string(f->opening_hours);
	}
	if (f->options >= 0) {
		put(",\"_umap_options\":");
		put(f->options == 1000 ? new_options
			: f->geom == G_POINT ? point_options[f->options]
			: f->geom == G_LINE ? line_options[f->options]
					    : polygon_options[f->options]);
	}
	put("},\"geometry\":{\"type\":");
	if (f->geom == G_POINT) {
		put("\"Point\",\"coordinates\":");
		put_pair(f->x, f->y, 0);
	} else if (f->geom == G_LINE) {
		put("\"LineString\",\"coordinates\":[");
		for (int k = 0; k < f->nverts; k++) {
			if (k)
				put(",");
			put_pair(f->x, f->y, k);
		}
		put("]");
	} else {
		put("\"Polygon\",\"coordinates\":[[");
		for (int k = 0; k < f->nverts; k++) {
			if (k)
				put(",");
			put_pair(f->x, f->y, k);
		}
		put("]]");
	}
	put("}}");
}

/* What a variant does to base feature `index`: one hash per feature, split into disjoint
 * ranges, so that 1% is modified, 0.1% removed and 0.1% followed by a new feature. */
struct plan {
	enum change change;
	int removed;
	int insert_after;
};

static struct plan plan_for(enum variant v, uint64_t seed, uint64_t index, uint64_t n)
{
	struct plan p = { C_NONE, 0, 0 };
	uint64_t h = feature_hash(seed, index, 99);
	uint64_t slot = h % 1000, pick = h / 1000;
	switch (v) {
	case V_BASE:
		break;
	case V_EDIT:
		if (slot < 10)
			p.change = (enum change)(pick % 5); /* capacity, name, geometry, description, drop key */
		else if (slot == 10)
			p.removed = 1;
		else if (slot == 11)
			p.insert_after = 1;
		break;
	case V_OURS: /* name, capacity and geometry */
		if (slot < 10)
			p.change = (enum change)(pick % 3);
		else if (slot == 12)
			p.removed = 1;
		else if (slot == 13)
			p.insert_after = 1;
		break;
	case V_THEIRS: /* description, kind and _umap_options: half on features ours changed too */
		if (slot < 5 || (slot >= 20 && slot < 25))
			p.change = pick % 2 ? C_DESCRIPTION : C_KIND_OPTIONS;
		else if (slot == 14)
			p.removed = 1;
		else if (slot == 15)
			p.insert_after = 1;
		break;
	case V_MERGED: /* main() combines ours and theirs */
		break;
	case V_REV10: /* exactly ten features, spread over the layer */
		for (uint64_t k = 0; k < 10 && n >= 20; k++)
			if (index == (2 * k + 1) * n / 20)
				p.change = (enum change)(k % 5);
		break;
	}
	return p;
}

static void write_layer_options(uint64_t seed, uint64_t n, enum variant v)
{
	uint64_t a = splitmix(seed ^ 0x5eed), b = splitmix(a);
	char uuid[40], buf[512];
	snprintf(uuid, sizeof(uuid), "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
		(uint32_t)(a >> 32), (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xfff,
		0x8000 | ((uint32_t)(b >> 48) & 0x3fff), (uint64_t)(b & 0xffffffffffffULL));
	snprintf(buf, sizeof(buf),
		"\"_umap_options\":{\"id\":\"%s\",\"name\":\"Generated layer (%" PRIu64 " features)\","
		"\"displayOnLoad\":true,\"browsable\":true,\"inCaption\":true,\"color\":\"%s\","
		"\"iconClass\":\"Circle\",\"type\":\"Default\",\"rank\":0,\"remoteData\":{},"
		"\"permissions\":{\"edit_status\":1}}",
		uuid, n, v == V_THEIRS || v == V_MERGED ? "#d95f02" : "#7570b3");
	put(buf);
}

static int usage(void)
{
	fprintf(stderr, "usage: gen [-s SEED] -n FEATURES [-v base|edit|ours|theirs|merged|rev10]\n"
			"Writes a uMap-like GeoJSON layer to stdout, one feature per line.\n"
			"merged is what a per-key three-way merge of ours and theirs must give.\n");
	return 129;
}

int main(int argc, char **argv)
{
	uint64_t seed = 42, n = 0;
	enum variant v = V_BASE;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (i + 1 >= argc)
			return usage();
		const char *val = argv[++i];
		char *end;
		errno = 0;
		if (!strcmp(arg, "-s") || !strcmp(arg, "-n")) {
			unsigned long long x = strtoull(val, &end, 10);
			if (errno || *end || !*val)
				return usage();
			if (!strcmp(arg, "-s"))
				seed = x;
			else
				n = x;
		} else if (!strcmp(arg, "-v")) {
			static const char *const names[] = { "base", "edit", "ours", "theirs", "rev10", "merged" };
			int found = -1;
			for (int k = 0; k < 6; k++)
				if (!strcmp(val, names[k]))
					found = k;
			if (found < 0)
				return usage();
			v = (enum variant)found;
		} else {
			return usage();
		}
	}
	if (n == 0 || n > 100000000)
		return usage();

	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	put("{\"type\":\"FeatureCollection\",\"features\":[\n");
	/* The merged version applies the plans of both sides; every other variant has one side. */
	enum variant sides[2] = { v, v };
	int nsides = 1;
	if (v == V_MERGED) {
		sides[0] = V_OURS;
		sides[1] = V_THEIRS;
		nsides = 2;
	}
	uint64_t added[2] = { 0, 0 };
	int first = 1;
	for (uint64_t i = 0; i < n; i++) {
		struct plan p[2];
		int removed = 0;
		for (int k = 0; k < nsides; k++) {
			p[k] = plan_for(sides[k], seed, i, n);
			removed |= p[k].removed;
		}
		struct feature f;
		if (!removed) {
			make_feature(&f, seed, i);
			for (int k = 0; k < nsides; k++)
				change_feature(&f, p[k].change, seed, i);
			if (!first)
				put(",\n");
			first = 0;
			write_feature(&f);
		}
		for (int k = 0; k < nsides; k++) {
			if (!p[k].insert_after)
				continue;
			/* ours and theirs add different ids */
			uint64_t index = (sides[k] == V_THEIRS ? 2 * n : n) + added[k]++;
			make_feature(&f, seed ^ 0xadd, index);
			make_id(f.id, seed, index);
			if (!first)
				put(",\n");
			first = 0;
			write_feature(&f);
		}
	}
	put("\n],\n");
	write_layer_options(seed, n, v);
	put("}\n");
	if (fflush(stdout) == EOF || ferror(stdout) || write_fail) {
		fprintf(stderr, "gen: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
