package cache

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/valyala/fasthttp"
)

// Vary (RFC 9111 §4.1). A response that varies is stored under a
// secondary key: its primary key holds a small directory entry naming the
// request fields the response varies on and an epoch, and each variant is
// stored under
//
//	primary key, 0x00, 'V', epoch (8 bytes), values
//
// where values holds, for each name in the directory, the request's
// normalised field value (uvarint length+1, then the bytes) or a single 0
// when the request lacks the field. A request without the field thus never
// matches one that had it, even empty. The epoch changes whenever the
// directory is rewritten, so that deleting or replacing a directory (an
// invalidation, a new Vary) also orphans every variant made under it: they
// can never be found again and age out of freecache.

// parseVary reads the field names a response's Vary lines list. It returns
// them lower-cased, sorted and deduplicated, joined by commas, appended to
// dst; star reports a "*" member, which matches no request (§4.1).
func parseVary(dst []byte, lines [][]byte, spans *[]span) (names []byte, star bool) {
	var tmp [256]byte
	buf := tmp[:0]
	ps := (*spans)[:0]
	for _, line := range lines {
		for len(line) > 0 {
			var item []byte
			item, line, _ = bytes.Cut(line, []byte{','})
			item = bytes.Trim(item, " \t")
			if len(item) == 0 {
				continue
			}
			if len(item) == 1 && item[0] == '*' {
				star = true
				continue
			}
			start := len(buf)
			for _, c := range item {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				buf = append(buf, c)
			}
			ps = append(ps, span{start, len(buf)})
		}
	}
	slices.SortFunc(ps, func(a, b span) int { return bytes.Compare(buf[a.start:a.end], buf[b.start:b.end]) })
	start := len(dst)
	var prev []byte
	for _, p := range ps {
		name := buf[p.start:p.end]
		if prev != nil && bytes.Equal(name, prev) {
			continue
		}
		if len(dst) > start {
			dst = append(dst, ',')
		}
		dst = append(dst, name...)
		prev = name
	}
	*spans = ps
	return dst[start:], star
}

// appendVaryValues appends the values block of a secondary key: for each
// name in names (as parseVary returns them), the request's normalised
// value of that field. tmp and spans are scratch space.
func appendVaryValues(dst, names []byte, h *fasthttp.RequestHeader, tmp *[]byte, spans *[]span) []byte {
	for len(names) > 0 {
		var name []byte
		name, names, _ = bytes.Cut(names, []byte{','})
		// string(name) does not escape: no allocation for names up to
		// 32 bytes, the common case.
		lines := h.PeekAll(string(name))
		if len(lines) == 0 {
			dst = append(dst, 0)
			continue
		}
		*tmp = normaliseList((*tmp)[:0], lines, equalFold(name, "accept-language"), spans)
		dst = binary.AppendUvarint(dst, uint64(len(*tmp))+1)
		dst = append(dst, *tmp...)
	}
	return dst
}

// normaliseList appends a request field's lines as one comma-separated
// list, which RFC 9111 §4.1 allows a cache to compare in a normalised
// form: the lines joined, whitespace around members and empty members
// dropped (RFC 9110 §5.2, §5.6.1). For Accept-Language (language, when
// true) members are also lower-cased and sorted: language ranges are
// case-insensitive and their order carries no meaning beside their
// weights (RFC 9110 §12.5.4).
func normaliseList(dst []byte, lines [][]byte, language bool, spans *[]span) []byte {
	start := len(dst)
	ps := (*spans)[:0]
	for _, line := range lines {
		for len(line) > 0 {
			var item []byte
			item, line, _ = bytes.Cut(line, []byte{','})
			item = bytes.Trim(item, " \t")
			if len(item) == 0 {
				continue
			}
			from := len(dst)
			if language {
				for _, c := range item {
					if c == ' ' || c == '\t' {
						continue // "en; q=0.5" is "en;q=0.5"
					}
					if 'A' <= c && c <= 'Z' {
						c += 'a' - 'A'
					}
					dst = append(dst, c)
				}
			} else {
				dst = append(dst, item...)
			}
			ps = append(ps, span{from, len(dst)})
		}
	}
	*spans = ps
	if len(ps) == 0 {
		return dst
	}
	if !language {
		return joinSpans(dst, start, ps)
	}
	items := dst[start:]
	slices.SortFunc(ps, func(a, b span) int {
		return bytes.Compare(items[a.start-start:a.end-start], items[b.start-start:b.end-start])
	})
	// Write the sorted, comma-joined list after the items, then move it
	// down over them.
	end := len(dst)
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, dst[p.start:p.end]...)
	}
	n := copy(dst[start:], dst[end:])
	return dst[:start+n]
}

// joinSpans rewrites dst[start:], which holds the spans' bytes back to back
// in order, with commas between them.
func joinSpans(dst []byte, start int, ps []span) []byte {
	end := len(dst)
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, dst[p.start:p.end]...)
	}
	n := copy(dst[start:], dst[end:])
	return dst[:start+n]
}

// appendVaryKey appends the secondary key of a variant to dst.
func appendVaryKey(dst, primary []byte, epoch uint64, values []byte) []byte {
	dst = append(dst, primary...)
	dst = append(dst, 0, 'V')
	dst = binary.LittleEndian.AppendUint64(dst, epoch)
	return append(dst, values...)
}
