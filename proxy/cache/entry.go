package cache

import (
	"encoding/binary"
	"errors"
	"time"
)

// What freecache holds under a key: the first byte says which.
const (
	kindResponse  = 'R' // a stored response (an entry)
	kindDirectory = 'V' // a Vary directory: names and epoch (vary.go)
	kindPass      = 'P' // the last response was not storable: do not coalesce
)

// Entry flags.
const (
	flagNoCache        = 1 << iota // response no-cache: revalidate before each use (§5.2.2.4)
	flagMustRevalidate             // must-revalidate or proxy-revalidate: never serve stale (§5.2.2.2, §5.2.2.8)
	flagSMaxAge                    // s-maxage: implies proxy-revalidate (§5.2.2.10)
)

// entry is a stored response, decoded. Its byte slices point into the
// buffer it was decoded from (a scratch copy of freecache's value, or a
// flight's result), never into freecache's memory or a fasthttp object.
//
// Encoding (little-endian):
//
//	kind 'R' | status u16 | flags u16 | stored i64 (unix ns: when the
//	response arrived) | initialAge i64 (ns, §4.2.3 corrected_initial_age)
//	| lifetime i64 (ns, §4.2.1) | swr i64 | sie i64 (ns) | gen u64
//	| then, each as uvarint length and bytes: etag, lastModified, date,
//	surrogate keys (space-separated), vary names, vary values, headers
//	| body (the rest)
//
// headers are uvarint-length-prefixed name and value pairs; the fields the
// metadata already holds or that are recomputed per response (Age,
// Content-Length) are not among them.
type entry struct {
	status     int
	flags      uint16
	stored     int64
	initialAge time.Duration
	lifetime   time.Duration
	swr, sie   time.Duration
	gen        uint64
	etag       []byte
	lastMod    []byte
	date       []byte
	keys       []byte
	varyNames  []byte
	varyValues []byte
	headers    []byte
	body       []byte
}

const entryFixed = 1 + 2 + 2 + 8*6

var errCorrupt = errors.New("cache: corrupt entry")

func (e *entry) has(flag uint16) bool { return e.flags&flag != 0 }

// encode appends e's encoding to dst.
func (e *entry) encode(dst []byte) []byte {
	dst = append(dst, kindResponse)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(e.status))
	dst = binary.LittleEndian.AppendUint16(dst, e.flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.stored))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.initialAge))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.lifetime))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.swr))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.sie))
	dst = binary.LittleEndian.AppendUint64(dst, e.gen)
	for _, b := range [...][]byte{e.etag, e.lastMod, e.date, e.keys, e.varyNames, e.varyValues, e.headers} {
		dst = appendBytes(dst, b)
	}
	return append(dst, e.body...)
}

// decode reads an encoded entry; the slices of e point into b.
func (e *entry) decode(b []byte) error {
	if len(b) < entryFixed || b[0] != kindResponse {
		return errCorrupt
	}
	le := binary.LittleEndian
	e.status = int(le.Uint16(b[1:]))
	e.flags = le.Uint16(b[3:])
	e.stored = int64(le.Uint64(b[5:]))
	e.initialAge = time.Duration(le.Uint64(b[13:]))
	e.lifetime = time.Duration(le.Uint64(b[21:]))
	e.swr = time.Duration(le.Uint64(b[29:]))
	e.sie = time.Duration(le.Uint64(b[37:]))
	e.gen = le.Uint64(b[45:])
	rest := b[entryFixed:]
	var ok bool
	for _, p := range [...]*[]byte{&e.etag, &e.lastMod, &e.date, &e.keys, &e.varyNames, &e.varyValues, &e.headers} {
		if *p, rest, ok = readBytes(rest); !ok {
			return errCorrupt
		}
	}
	e.body = rest
	return nil
}

// age returns the entry's current_age at now (RFC 9111 §4.2.3):
// corrected_initial_age + resident_time.
func (e *entry) age(now time.Time) time.Duration {
	resident := time.Duration(now.UnixNano() - e.stored)
	if resident < 0 {
		resident = 0
	}
	return e.initialAge + resident
}

// nextField returns the first name and value pair of an encoded header
// list and the rest.
func nextField(b []byte) (name, value, rest []byte, ok bool) {
	if name, b, ok = readBytes(b); !ok {
		return nil, nil, nil, false
	}
	if value, b, ok = readBytes(b); !ok {
		return nil, nil, nil, false
	}
	return name, value, b, true
}

func appendField(dst, name, value []byte) []byte {
	return appendBytes(appendBytes(dst, name), value)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func readBytes(b []byte) (v, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	b = b[w:]
	return b[:n:n], b[n:], true
}

// A directory: kind 'V' | epoch u64 | uvarint length and vary names |
// then, optionally, one variant inline: an entry's encoding (kind 'R',
// its vary values among its fields). Most varying responses have one
// variant in use (Vary: Accept-Encoding and every client asking alike):
// inline, it is found with one lookup, and it costs freecache one entry
// (and one index slot) instead of two.
func appendDirectory(dst []byte, epoch uint64, names []byte) []byte {
	dst = append(dst, kindDirectory)
	dst = binary.LittleEndian.AppendUint64(dst, epoch)
	return appendBytes(dst, names)
}

// decodeDirectory reads a directory; inline is the inline variant's
// encoding, empty if it has none.
func decodeDirectory(b []byte) (epoch uint64, names, inline []byte, ok bool) {
	if len(b) < 9 || b[0] != kindDirectory {
		return 0, nil, nil, false
	}
	names, inline, ok = readBytes(b[9:])
	if !ok {
		return 0, nil, nil, false
	}
	return binary.LittleEndian.Uint64(b[1:]), names, inline, true
}

// passMarker is the whole of a pass entry.
var passMarker = []byte{kindPass}
