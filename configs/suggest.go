package configs

import (
	"reflect"
	"strings"
)

// suggest returns the candidate closest to s when it is close enough to be
// a likely typo (a case difference, or up to two edits for longer words),
// or "" when nothing is.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 0
	limit := 2
	if len(s) <= 4 {
		limit = 1
	}
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return c
		}
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// suggestKey finds the known key nearest to the last element of an unknown
// key path (as go-toml reports it, without array indexes) by following the
// toml tags of Config, so the list of keys cannot drift from the schema.
func suggestKey(path []string) string {
	if len(path) == 0 {
		return ""
	}
	t := reflect.TypeFor[Config]()
	for _, name := range path[:len(path)-1] {
		f, ok := fieldByTag(t, name)
		if !ok {
			return ""
		}
		t = f.Type
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
	}
	var names []string
	for f := range t.Fields() {
		if tag := tomlName(f); tag != "" {
			names = append(names, tag)
		}
	}
	return suggest(path[len(path)-1], names)
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if tomlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tomlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return name
}

// editDistance is the optimal-string-alignment distance between a and b,
// in bytes: Levenshtein plus swapping two neighbours as one edit, the
// commonest typo ("nmae"). Bytes are enough for the ASCII keys and names
// it compares.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
