package configs

import (
	"sort"
	"strconv"

	"github.com/pelletier/go-toml/v2/unstable"
)

// pos is a 1-based line and byte column in the file.
type pos struct{ Line, Col int }

// index maps key paths to where they are written, because the decoded
// structs have forgotten it and every problem must point at its line.
//
// Paths use Go-like notation with 0-based indexes: "sip.listen[1]",
// "extensions[3].department". A key-value maps to its value (or to its key
// when the value is an array, which go-toml gives no position); a table or
// array-table element maps to its header.
type index struct {
	at map[string]entry
	// byPos maps the start of each key and value back to its path so that
	// go-toml's errors, which know only a position and index-less key
	// names, can be reported with the same paths as validation problems.
	byPos map[pos]string
}

type entry struct {
	pos pos
	// implicit marks a table that is only created by a dotted key or a
	// sub-table header; an explicit header, if any, is the better place to
	// point at.
	implicit bool
}

// buildIndex walks the document with go-toml's unstable parser. It returns
// the parser's error, if any, but the index holds everything read up to it.
func buildIndex(data []byte) (*index, error) {
	ix := &index{at: map[string]entry{}, byPos: map[pos]string{}}
	lines := lineStarts(data)
	w := walker{ix: ix, lines: lines, arrays: map[string]int{}}

	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			keys, first := keyParts(e)
			path := w.resolve(keys)
			w.implicitParents(keys, w.header(data, first))
			w.set(path, w.header(data, first), false)
			w.ix.byPos[w.pos(first)] = path
			table = path
		case unstable.ArrayTable:
			keys, first := keyParts(e)
			base := w.resolve(keys[:len(keys)-1])
			base = join(base, keys[len(keys)-1])
			n := w.arrays[base]
			w.arrays[base] = n + 1
			path := base + "[" + strconv.Itoa(n) + "]"
			h := w.header(data, first)
			w.implicitParents(keys, h)
			// The array as a whole is found at its first element.
			w.setIfAbsent(base, h)
			w.set(path, h, false)
			w.ix.byPos[w.pos(first)] = path
			table = path
		case unstable.KeyValue:
			w.keyValue(table, e)
		}
	}
	return ix, p.Error()
}

type walker struct {
	ix     *index
	lines  []int
	arrays map[string]int // array-table path -> number of elements so far
}

// resolve turns header key parts into a path, descending into the last
// element of each array of tables the way TOML does for [a.b] after [[a]].
func (w *walker) resolve(keys []string) string {
	path := ""
	for _, k := range keys {
		path = join(path, k)
		if n := w.arrays[path]; n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

func (w *walker) implicitParents(keys []string, at pos) {
	path := ""
	for _, k := range keys[:len(keys)-1] {
		path = join(path, k)
		if n := w.arrays[path]; n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
		w.setIfAbsent(path, at)
	}
}

func (w *walker) keyValue(table string, kv *unstable.Node) {
	keys, first := keyParts(kv)
	keyPos := w.pos(first)
	path := table
	for i, k := range keys {
		path = join(path, k)
		if i < len(keys)-1 {
			w.setIfAbsent(path, keyPos)
		}
	}
	w.ix.byPos[keyPos] = path
	w.value(path, kv.Value(), keyPos)
}

func (w *walker) value(path string, v *unstable.Node, fallback pos) {
	at := fallback
	if v.Raw.Length > 0 {
		at = w.pos(v)
		w.ix.byPos[at] = path
	}
	w.set(path, at, false)
	switch v.Kind {
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			w.value(path+"["+strconv.Itoa(i)+"]", c, at)
			i++
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				w.keyValue(path, c)
			}
		}
	}
}

func (w *walker) set(path string, at pos, implicit bool) {
	w.ix.at[path] = entry{pos: at, implicit: implicit}
}

func (w *walker) setIfAbsent(path string, at pos) {
	if _, ok := w.ix.at[path]; !ok {
		w.set(path, at, true)
	}
}

// header points at the opening bracket of a table header rather than at
// its name, because that is what an admin looks for: the [[extensions]]
// line.
func (w *walker) header(data []byte, first *unstable.Node) pos {
	off := int(first.Raw.Offset)
	for off > 0 {
		c := data[off-1]
		if c != '[' && c != ' ' && c != '\t' {
			break
		}
		off--
	}
	for off < len(data) && data[off] != '[' {
		off++
	}
	return w.offsetPos(off)
}

func (w *walker) pos(n *unstable.Node) pos {
	return w.offsetPos(int(n.Raw.Offset))
}

func (w *walker) offsetPos(off int) pos {
	return offsetPos(w.lines, off)
}

// lineStarts returns the byte offset at which each line begins.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

func offsetPos(lines []int, off int) pos {
	// The line is the last one starting at or before off.
	i := sort.Search(len(lines), func(i int) bool { return lines[i] > off }) - 1
	return pos{Line: i + 1, Col: off - lines[i] + 1}
}

// keyParts returns the decoded parts of a table header's or key-value's key
// and its first Key node, which carries the position.
func keyParts(n *unstable.Node) ([]string, *unstable.Node) {
	var keys []string
	var first *unstable.Node
	for it := n.Key(); it.Next(); {
		k := it.Node()
		if first == nil {
			first = k
		}
		keys = append(keys, string(k.Data))
	}
	return keys, first
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// touched reports whether the file wrote path or anything under it. Only
// written keys and headers create entries, implicit ones included, so any
// entry means the admin wrote into that table.
func (ix *index) touched(path string) bool {
	if ix == nil {
		return false
	}
	_, ok := ix.at[path]
	return ok
}

// parent strips the last element of a path: "a.b[2]" -> "a.b",
// "a.b" -> "a", "a" -> "".
func parent(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		switch path[i] {
		case '.':
			return path[:i]
		case '[':
			return path[:i]
		}
	}
	return ""
}

// lookup finds where path, or failing that its nearest written ancestor,
// is in the file. exact reports whether path itself was written.
func (ix *index) lookup(path string) (at pos, exact, ok bool) {
	if ix == nil {
		return pos{}, false, false
	}
	for p := path; p != ""; p = parent(p) {
		if e, found := ix.at[p]; found {
			return e.pos, p == path, true
		}
	}
	return pos{}, false, false
}

// has reports whether the file wrote path itself (not just a parent).
func (ix *index) has(path string) bool {
	if ix == nil {
		return false
	}
	e, ok := ix.at[path]
	return ok && !e.implicit
}
