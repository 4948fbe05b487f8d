package compress

// Coding is a content coding the edge can apply (RFC 9110 §8.4.1).
type Coding uint8

const (
	Identity Coding = iota // no coding
	Gzip                   // gzip (RFC 1952)
	Brotli                 // br (RFC 7932)
	numCodings
)

// tokens are the codings' names in Accept-Encoding and Content-Encoding.
var tokens = [numCodings]string{Identity: "identity", Gzip: "gzip", Brotli: "br"}

func (c Coding) String() string { return tokens[c] }

// Weights are in thousandths: a qvalue has at most three decimals.
const (
	unlisted = -1
	qMax     = 1000
)

// Preferred returns the coding the edge should send in answer to a
// request's Accept-Encoding lines (RFC 9110 §12.5.3): the acceptable
// coding of highest weight among br and gzip, br when they tie; identity
// when neither is acceptable (weight 0, unlisted and no "*"), when the
// field is absent or empty, or when "identity" is listed with a higher
// weight than both. Unlisted, identity counts as acceptable but least
// preferred. "x-gzip" is gzip (§8.4.1.3); names are case-insensitive; a
// coding listed twice takes its lower weight, and an invalid weight
// counts as 0, so a refusal is never read as consent. Nothing allocates.
func Preferred(lines [][]byte) Coding {
	br, gz, id, star := unlisted, unlisted, unlisted, unlisted
	for _, line := range lines {
		for len(line) > 0 {
			var member []byte
			member, line = cut(line, ',')
			name, params := cut(member, ';')
			name = trimOWS(name)
			if len(name) == 0 {
				continue
			}
			q := weight(params)
			switch {
			case equalFold(name, "br"):
				br = lower(br, q)
			case equalFold(name, "gzip"), equalFold(name, "x-gzip"):
				gz = lower(gz, q)
			case equalFold(name, "identity"):
				id = lower(id, q)
			case len(name) == 1 && name[0] == '*':
				star = lower(star, q)
			}
		}
	}
	// "*" stands for every coding not listed by name.
	if br == unlisted {
		br = max(star, 0)
	}
	if gz == unlisted {
		gz = max(star, 0)
	}
	best := max(br, gz)
	switch {
	case best == 0:
		return Identity
	case id != unlisted && id > best:
		return Identity
	case br >= gz:
		return Brotli
	default:
		return Gzip
	}
}

// lower is a repeated member's weight: the lower one.
func lower(have, q int) int {
	if have == unlisted {
		return q
	}
	return min(have, q)
}

// weight reads a member's parameters (after its first ';') for q
// (RFC 9110 §12.4.2): qMax when there is none, 0 when it is invalid.
func weight(params []byte) int {
	for len(params) > 0 {
		var p []byte
		p, params = cut(params, ';')
		name, value := cut(p, '=')
		if !equalFold(trimOWS(name), "q") {
			continue
		}
		return qvalue(trimOWS(value))
	}
	return qMax
}

// qvalue parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
// into thousandths; anything else is 0.
func qvalue(v []byte) int {
	if len(v) == 0 || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	n := int(v[0]-'0') * qMax
	if len(v) == 1 {
		return n
	}
	if v[1] != '.' {
		return 0
	}
	scale := 100
	for _, c := range v[2:] {
		if c < '0' || c > '9' {
			return 0
		}
		n += int(c-'0') * scale
		scale /= 10
	}
	if n > qMax {
		return 0
	}
	return n
}

// cut splits s around the first sep, as bytes.Cut, without the found flag.
func cut(s []byte, sep byte) (before, after []byte) {
	for i, c := range s {
		if c == sep {
			return s[:i], s[i+1:]
		}
	}
	return s, nil
}

// trimOWS drops optional whitespace (RFC 9110 §5.6.3) at both ends.
func trimOWS(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring
// ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
