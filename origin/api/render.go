package api

import (
	"strconv"
	"unicode/utf8"

	"edgeshop/origin/store"
)

// appendProduct renders p with the seed application's key order and number
// formats (price and rating always carry a decimal point: api.md).
func appendProduct(b []byte, p *store.Product) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, p.ID, 10)
	b = append(b, `,"title":`...)
	b = appendString(b, p.Title)
	b = append(b, `,"price":`...)
	b = appendCentsNumber(b, p.PriceCents)
	b = append(b, `,"description":`...)
	b = appendString(b, p.Description)
	b = append(b, `,"is_featured":`...)
	b = strconv.AppendBool(b, p.IsFeatured)
	b = append(b, `,"clothes_type":`...)
	b = appendString(b, p.ClothesType)
	b = append(b, `,"rating":`...)
	b = appendDecimal(b, p.Rating)
	b = append(b, `,"color":`...)
	b = appendRawList(b, p.Colors)
	b = append(b, `,"sizes":`...)
	b = appendRawList(b, p.Sizes)
	b = append(b, `,"image_urls":`...)
	b = appendRawList(b, p.ImageURLs)
	b = append(b, `,"created_at":`...)
	b = appendString(b, p.CreatedAt)
	b = append(b, `,"category":`...)
	b = strconv.AppendInt(b, p.CategoryID, 10)
	b = append(b, `,"brand":`...)
	b = strconv.AppendInt(b, p.BrandID, 10)
	return append(b, '}')
}

func appendProducts(b []byte, ps []store.Product) []byte {
	b = append(b, '[')
	for i := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendProduct(b, &ps[i])
	}
	return append(b, ']')
}

// appendCategory renders a category or brand in the seed's key order.
func appendCategory(b []byte, c *store.Category) []byte {
	b = append(b, `{"title":`...)
	b = appendString(b, c.Title)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, c.ID, 10)
	b = append(b, `,"image_url":`...)
	b = appendString(b, c.ImageURL)
	return append(b, '}')
}

func appendCategories(b []byte, cs []store.Category) []byte {
	b = append(b, '[')
	for i := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCategory(b, &cs[i])
	}
	return append(b, ']')
}

// appendRawList splices a stored JSON array; the store validated it on
// write, so only an empty value needs a default.
func appendRawList(b []byte, raw []byte) []byte {
	if len(raw) == 0 {
		return append(b, "[]"...)
	}
	return append(b, raw...)
}

// appendCentsNumber renders cents as a JSON number with at least one
// decimal: 12643 → 126.43, 12640 → 126.4, 12600 → 126.0.
func appendCentsNumber(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	frac := cents % 100
	b = append(b, '.')
	switch {
	case frac == 0:
		return append(b, '0')
	case frac%10 == 0:
		return append(b, byte('0'+frac/10))
	default:
		return append(b, byte('0'+frac/10), byte('0'+frac%10))
	}
}

// appendCentsString renders cents as a decimal string with two places
// ("59.98"), as the seed did for order totals and item prices.
func appendCentsString(b []byte, cents int64) []byte {
	b = append(b, '"')
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	frac := cents % 100
	b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	return append(b, '"')
}

// appendDecimal renders f with a decimal point always present (4 → 4.0).
func appendDecimal(b []byte, f float64) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, '.', '0')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (quotes, backslash, control characters, <, >, &, U+2028/2029) and
// replacing invalid UTF-8 with U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
