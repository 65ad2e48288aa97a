/* bench/plot: draws a log-log line chart as SVG from "series<TAB>x<TAB>y" lines on stdin.
 * make bench uses it for docs/bench-*.svg, so the plots need nothing beyond libc and libm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 24
#define MAX_POINTS 16

struct series {
	char key[96]; /* as given on input, "ref:" included */
	char name[96];
	int dashed; /* a reference (floor or peer), drawn dashed */
	int n;
	double x[MAX_POINTS], y[MAX_POINTS];
};

static struct series series[MAX_SERIES];
static int nseries;

static const char *const palette[] = { "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e",
	"#e6ab02", "#a6761d", "#1f78b4", "#b2182b", "#4d4d4d", "#01665e", "#8c510a" };
#define NPALETTE (sizeof(palette) / sizeof(palette[0]))

/* Plot area and legend, in SVG user units. */
enum { WIDTH = 820, HEIGHT = 460, LEFT = 78, RIGHT = 560, TOP = 44, BOTTOM = 400, LEGEND_X = 580 };

static struct series *find_series(const char *name)
{
	for (int i = 0; i < nseries; i++)
		if (!strncmp(series[i].key, name, sizeof(series[i].key) - 1))
			return &series[i];
	if (nseries == MAX_SERIES)
		return NULL;
	struct series *s = &series[nseries++];
	snprintf(s->key, sizeof(s->key), "%.95s", name);
	const char *shown = name;
	if (!strncmp(name, "ref:", 4)) {
		s->dashed = 1;
		shown = name + 4;
	}
	size_t len = strlen(shown);
	if (len >= sizeof(s->name))
		len = sizeof(s->name) - 1;
	memcpy(s->name, shown, len);
	s->name[len] = '\0';
	return s;
}

static void put_escaped(const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", stdout);
		else if (*s == '>')
			fputs("&gt;", stdout);
		else if (*s == '&')
			fputs("&amp;", stdout);
		else
			putchar(*s);
	}
}

static void format_value(char *out, size_t size, double v, const char *unit)
{
	if (!strcmp(unit, "s")) {
		if (v < 1e-3)
			snprintf(out, size, "%g µs", v * 1e6);
		else if (v < 1)
			snprintf(out, size, "%g ms", v * 1e3);
		else
			snprintf(out, size, "%g s", v);
	} else if (!strcmp(unit, "B")) {
		if (v < 1e6)
			snprintf(out, size, "%g kB", v / 1e3);
		else if (v < 1e9)
			snprintf(out, size, "%g MB", v / 1e6);
		else
			snprintf(out, size, "%g GB", v / 1e9);
	} else if (!strcmp(unit, "count")) {
		if (v >= 1e6)
			snprintf(out, size, "%gM", v / 1e6);
		else if (v >= 1e3)
			snprintf(out, size, "%gk", v / 1e3);
		else
			snprintf(out, size, "%g", v);
	} else {
		snprintf(out, size, "%g", v);
	}
}

static double map_log(double v, double lo, double hi, double a, double b)
{
	return a + (log10(v) - lo) / (hi - lo) * (b - a);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: plot TITLE X-LABEL Y-LABEL Y-UNIT(s|B|count) < series-x-y.tsv > chart.svg\n");
		return 129;
	}
	const char *title = argv[1], *xlabel = argv[2], *ylabel = argv[3], *yunit = argv[4];
	char line[512];
	double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
	while (fgets(line, sizeof(line), stdin)) {
		char *tab1 = strchr(line, '\t');
		char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		if (!tab2)
			continue;
		*tab1 = *tab2 = '\0';
		double x = strtod(tab1 + 1, NULL), y = strtod(tab2 + 1, NULL);
		if (!(x > 0) || !(y > 0))
			continue; /* a log axis has no place for zero or n/a */
		struct series *s = find_series(line);
		if (!s || s->n == MAX_POINTS)
			continue;
		/* keep the points sorted by x so the polyline runs left to right */
		int k = s->n++;
		while (k > 0 && s->x[k - 1] > x) {
			s->x[k] = s->x[k - 1];
			s->y[k] = s->y[k - 1];
			k--;
		}
		s->x[k] = x;
		s->y[k] = y;
		xmin = fmin(xmin, x);
		xmax = fmax(xmax, x);
		ymin = fmin(ymin, y);
		ymax = fmax(ymax, y);
	}

	printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	       "font-family=\"sans-serif\" font-size=\"12\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT);
	printf("<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	printf("<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">", LEFT);
	put_escaped(title);
	printf("</text>\n");
	if (nseries == 0) {
		printf("<text x=\"%d\" y=\"%d\" fill=\"#666\">no figures yet: every command was n/a</text>\n</svg>\n",
			LEFT, (TOP + BOTTOM) / 2);
		return ferror(stdout) ? 1 : 0;
	}
	double xlo = floor(log10(xmin)), xhi = ceil(log10(xmax));
	if (xhi - xlo < 1)
		xhi = xlo + 1;
	double ylo = floor(log10(ymin)), yhi = ceil(log10(ymax));
	if (yhi - ylo < 1)
		yhi = ylo + 1;

	/* grid: a line per decade, light ones at 2 and 5 */
	for (double d = ylo; d <= yhi; d++) {
		for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
			double v = pow(10, d) * m;
			if (log10(v) > yhi + 1e-9)
				break;
			double py = map_log(v, ylo, yhi, BOTTOM, TOP);
			char label[32];
			format_value(label, sizeof(label), v, yunit);
			printf("<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", LEFT, RIGHT, py, py,
				m == 1 ? "#cccccc" : "#eeeeee");
			if (m == 1 || yhi - ylo <= 2)
				printf("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#444\">%s</text>\n", LEFT - 6,
					py + 4, label);
		}
	}
	for (double d = xlo; d <= xhi; d++) {
		double px = map_log(pow(10, d), xlo, xhi, LEFT, RIGHT);
		char label[32];
		format_value(label, sizeof(label), pow(10, d), "count");
		printf("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#cccccc\"/>\n", px, px, TOP, BOTTOM);
		printf("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n", px, BOTTOM + 16, label);
	}
	printf("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", LEFT, TOP,
		RIGHT - LEFT, BOTTOM - TOP);
	printf("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (LEFT + RIGHT) / 2, BOTTOM + 36);
	put_escaped(xlabel);
	printf("</text>\n<text transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\">", (TOP + BOTTOM) / 2);
	put_escaped(ylabel);
	printf("</text>\n");

	static const char *const ref_dashes[] = { " stroke-dasharray=\"6,4\"", " stroke-dasharray=\"2,3\"",
		" stroke-dasharray=\"9,3,2,3\"", " stroke-dasharray=\"12,6\"" };
	static const char *const ref_colors[] = { "#555555", "#888888", "#333333", "#aaaaaa" };
	int color = 0, refs = 0;
	for (int i = 0; i < nseries; i++) {
		struct series *s = &series[i];
		const char *c = s->dashed ? ref_colors[refs % 4] : palette[color++ % NPALETTE];
		const char *dash = s->dashed ? ref_dashes[refs++ % 4] : "";
		printf("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", c, dash);
		for (int k = 0; k < s->n; k++)
			printf("%s%.1f,%.1f", k ? " " : "", map_log(s->x[k], xlo, xhi, LEFT, RIGHT),
				map_log(s->y[k], ylo, yhi, BOTTOM, TOP));
		printf("\"/>\n");
		for (int k = 0; k < s->n; k++) {
			char label[32];
			format_value(label, sizeof(label), s->y[k], yunit);
			printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>", map_log(s->x[k], xlo, xhi, LEFT, RIGHT),
				map_log(s->y[k], ylo, yhi, BOTTOM, TOP), c);
			put_escaped(s->name);
			printf(": %s</title></circle>\n", label);
		}
		int ly = TOP + 8 + i * 20;
		printf("<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", LEGEND_X,
			LEGEND_X + 24, ly, ly, c, dash);
		printf("<text x=\"%d\" y=\"%d\">", LEGEND_X + 30, ly + 4);
		put_escaped(s->name);
		printf("</text>\n");
	}
	printf("</svg>\n");
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "plot: cannot write the chart\n");
		return 1;
	}
	return 0;
}
