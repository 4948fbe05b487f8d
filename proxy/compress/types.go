package compress

import "bytes"

// compressible reports whether a response of Content-Type ct is worth
// compressing: text and the structured text formats (JSON, XML,
// JavaScript, SVG, ...). Images other than SVG, audio, video, archives,
// WOFF fonts and the like are compressed already; a missing type is left
// alone, as is text/event-stream (a stream, flushed event by event).
func compressible(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = trimOWS(ct)
	typ, sub := cut(ct, '/')
	if len(sub) == 0 {
		return false
	}
	switch {
	case equalFold(typ, "text"):
		return !equalFold(sub, "event-stream")
	case equalFold(typ, "application"):
		for _, s := range compressibleApplication {
			if equalFold(sub, s) {
				return true
			}
		}
		// RFC 6839 structured syntax suffixes: problem+json, atom+xml...
		return hasSuffixFold(sub, "+json") || hasSuffixFold(sub, "+xml")
	case equalFold(typ, "image"):
		return equalFold(sub, "svg+xml") || equalFold(sub, "x-icon") ||
			equalFold(sub, "vnd.microsoft.icon") || equalFold(sub, "bmp")
	case equalFold(typ, "font"):
		return equalFold(sub, "ttf") || equalFold(sub, "otf") || equalFold(sub, "collection")
	}
	return false
}

// compressibleApplication are application/ subtypes that are text, or
// binary but far from dense.
var compressibleApplication = [...]string{
	"json", "javascript", "x-javascript", "ecmascript", "xml", "x-ndjson",
	"graphql", "x-www-form-urlencoded", "wasm", "vnd.ms-fontobject",
	"x-font-ttf", "x-font-opentype", "rtf", "x-sh", "yaml", "x-yaml", "toml",
}

func hasSuffixFold(b []byte, suffix string) bool {
	return len(b) > len(suffix) && equalFold(b[len(b)-len(suffix):], suffix)
}
