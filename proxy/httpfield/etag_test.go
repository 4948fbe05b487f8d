package httpfield

import (
	"strings"
	"testing"
)

func TestNextEntityTag(t *testing.T) {
	for list, want := range map[string]string{
		`"a", W/"b,c" ,*, junk , "d`: `"a"|W/"b,c"|*|junk|"d`,
		``:                           ``,
		` , ,`:                       ``,
	} {
		var got []string
		for rest := []byte(list); ; {
			var tag []byte
			tag, rest = NextEntityTag(rest)
			if len(tag) == 0 {
				break
			}
			got = append(got, string(tag))
		}
		if strings.Join(got, "|") != want {
			t.Errorf("%q: got %q, want %q", list, strings.Join(got, "|"), want)
		}
	}
}
