package settings

import "edgeshop/shared/config"

// addCompress adds --compress: gzip and br for clients that accept them
// (proxy/compress).
func addCompress(set *config.Set, s *Settings) {
	set.Bool(&s.Compress, "compress", "EDGE_COMPRESS", true, "compress text responses (JSON, HTML, CSS, JS, SVG...) with br or gzip for clients that accept them; the cache keeps one variant per coding")
}
