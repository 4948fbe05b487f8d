package cache

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
)

// Keys. A primary key names what a request asks for, whatever its other
// header fields say (architecture: "Key = method class + host + path +
// sorted query"):
//
//	class byte ('G': GET and HEAD share entries)
//	uvarint len(host), host   lower-cased, without the default port
//	path                      exactly as the client sent it
//	'?' query                 parameters sorted by name, stably; only
//	                          when there is a query
//
// The length prefix keeps the host and the target apart whatever bytes a
// client puts in either. Nothing else goes into the primary key: headers
// such as X-Forwarded-Host or X-Original-URL cannot change what a key
// finds. A response that varies (RFC 9111 §4.1) is stored under a
// secondary key, see appendVaryKey.

// classGet is the method class of GET and HEAD.
const classGet = 'G'

// maxKeyLen is freecache's limit on a key.
const maxKeyLen = 65535

// span is a parameter's place in a query string.
type span struct{ start, end int }

// appendKey appends the primary key for host, path and query to dst.
// spans is scratch space for sorting the query.
func appendKey(dst []byte, class byte, host, path, query []byte, spans *[]span) []byte {
	host = trimDefaultPort(host)
	dst = append(dst, class)
	dst = binary.AppendUvarint(dst, uint64(len(host)))
	for _, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, path...)
	return appendSortedQuery(dst, query, spans)
}

// trimDefaultPort drops ":80" from host: the edge speaks plain HTTP, so
// "shop.example:80" and "shop.example" are one origin (RFC 9110 §4.2.3).
func trimDefaultPort(host []byte) []byte {
	if bytes.HasSuffix(host, []byte(":80")) {
		return host[:len(host)-3]
	}
	return host
}

// appendSortedQuery appends '?' and query with its parameters sorted by
// name to dst; parameters with the same name keep their order, as it may
// matter to the origin. Empty parameters ("a=1&&b=2") are dropped. An
// empty query appends nothing.
func appendSortedQuery(dst, query []byte, spans *[]span) []byte {
	ps := (*spans)[:0]
	for i := 0; i <= len(query); {
		j := bytes.IndexByte(query[i:], '&')
		if j < 0 {
			j = len(query) - i
		}
		if j > 0 {
			ps = append(ps, span{i, i + j})
		}
		i += j + 1
	}
	if len(ps) == 0 {
		*spans = ps
		return dst
	}
	slices.SortStableFunc(ps, func(a, b span) int {
		return bytes.Compare(paramName(query[a.start:a.end]), paramName(query[b.start:b.end]))
	})
	dst = append(dst, '?')
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, query[p.start:p.end]...)
	}
	*spans = ps
	return dst
}

func paramName(p []byte) []byte {
	if i := bytes.IndexByte(p, '='); i >= 0 {
		return p[:i]
	}
	return p
}

// splitKey returns the host and the target (path and sorted query) of a
// primary key; ok is false if key is not one.
func splitKey(key []byte) (host, target []byte, ok bool) {
	if len(key) < 2 {
		return nil, nil, false
	}
	n, w := binary.Uvarint(key[1:])
	if w <= 0 || n > uint64(len(key)-1-w) {
		return nil, nil, false
	}
	rest := key[1+w:]
	return rest[:n], rest[n:], true
}

// parsePurgeURL reads a URL given to PurgeURLs: "http://host/path?query"
// names one host's entry, "/path?query" the entry for that target on
// every host. The path is taken as written, the query is sorted as in
// keys, a fragment is ignored.
func parsePurgeURL(raw string) (host, path, query []byte, ok bool) {
	s := raw
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	switch {
	case strings.HasPrefix(s, "/"):
	case hasPrefixFold(s, "http://"), hasPrefixFold(s, "https://"):
		s = s[strings.Index(s, "//")+2:]
		end := strings.IndexAny(s, "/?")
		if end < 0 {
			end = len(s)
		}
		host, s = []byte(s[:end]), s[end:]
		if len(host) == 0 {
			return nil, nil, nil, false
		}
		if len(s) == 0 || s[0] == '?' {
			s = "/" + s
		}
	default:
		return nil, nil, nil, false
	}
	p, q, _ := strings.Cut(s, "?")
	return host, []byte(p), []byte(q), true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
