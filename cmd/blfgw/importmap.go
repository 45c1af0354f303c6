package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/blfgw/blfgw/configs"
)

// The columns of a presence mappings CSV: the blueprint's data table
// MsTeamsPresenceMappings, exported with a key column (the Teams value) and
// the Genesys presence's name, its definition id, or both.
const (
	colTeams = iota
	colPresence
	colID
)

var colNames = [...]string{colTeams: "key", colPresence: "GenesysCloudPresence", colID: "GenesysCloudPresenceId"}

// blueprintPresenceIDs names the system presence definitions by the ids
// the blueprint's own export uses, which have only an id column. They are
// used only to name the presence of such a row: the configuration keeps
// names, which the bridge resolves against the org at start.
var blueprintPresenceIDs = map[string]string{
	"6a3af858-942f-489d-9700-5f9bcdcdae9b": "Available",
	"5e5c5c66-ea97-4e7f-ac41-6424784829f2": "Away",
	"31fe3bac-dea6-44b7-bed7-47f91660a1a0": "Busy",
	"ccf3c10a-aa2c-4845-8e8d-f59fa48c58e5": "Offline",
	"7ffa01cd-7866-4ad7-8faa-31e11b42f51f": "Idle",
	"3fd96123-badb-4f69-bc03-1b1ccc6d8014": "Meal",
	"d2390a99-8546-bad9-8f0a-219548e8aeb0": "Training",
	"bbdff279-7ae1-48ea-bade-7831d7234c64": "Meeting",
	"227b37e2-f1d0-4dd0-8f50-badd7cf6d158": "Break",
	"e08eaf1b-ee47-4fa9-a231-1200e284798f": "On Queue",
}

// importGenesysMappings is `blfgw import-genesys-mappings FILE`: it turns
// the blueprint's MsTeamsPresenceMappings CSV into [[genesys.mappings]]
// entries on stdout. Problems are listed at once as FILE:LINE: message and
// exit like an invalid configuration.
func importGenesysMappings(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: blfgw import-genesys-mappings FILE")
		return errUsage
	}
	path := args[0]
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errConfig{err}
	}
	ms, problems := parseGenesysMappings(path, data)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "%d problem(s)\n", len(problems))
		return errConfig{fmt.Errorf("%s: %d problem(s)", path, len(problems))}
	}
	_, err = io.WriteString(stdout, formatGenesysMappings(path, ms))
	return err
}

// parseGenesysMappings reads the CSV: an optional header row naming the
// columns, then one row per Teams value. Without a header the columns are
// key, presence name and id, or key and one of them.
func parseGenesysMappings(path string, data []byte) ([]configs.GenesysMapping, []string) {
	var problems []string
	report := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", path, line, fmt.Sprintf(format, args...)))
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1

	var cols []int // column index -> colTeams, colPresence or colID
	var ms []configs.GenesysMapping
	var lines []int
	seen := map[string]int{} // Teams value -> line
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				report(pe.Line, "%v", pe.Err)
			} else {
				problems = append(problems, fmt.Sprintf("%s: %v", path, err))
			}
			return nil, problems
		}
		line, _ := r.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if !slices.ContainsFunc(rec, func(f string) bool { return f != "" }) {
			continue // an empty line, or one of empty cells
		}
		// Trailing empty cells beyond the columns, as spreadsheets
		// write them, are no columns; an empty id cell is an id left out.
		width := len(colNames)
		if cols != nil {
			width = len(cols)
		}
		for len(rec) > width && rec[len(rec)-1] == "" {
			rec = rec[:len(rec)-1]
		}

		if cols == nil {
			var isHeader bool
			var msg string
			cols, isHeader, msg = columns(rec)
			if msg != "" {
				report(line, "%s", msg)
				return nil, problems
			}
			if isHeader {
				continue
			}
		}

		if len(rec) < len(cols) {
			report(line, "missing column %s (want %s)", colNames[cols[len(rec)]], columnList(cols))
			continue
		}
		if len(rec) > len(cols) {
			report(line, "%d columns, want %d (%s)", len(rec), len(cols), columnList(cols))
			continue
		}
		var m configs.GenesysMapping
		for i, c := range cols {
			switch c {
			case colTeams:
				m.Teams = rec[i]
			case colPresence:
				m.Presence = rec[i]
			case colID:
				m.ID = rec[i]
			}
		}
		if m.Presence == "" && m.ID != "" {
			name, ok := blueprintPresenceIDs[strings.ToLower(m.ID)]
			if !ok && configs.IsGUID(m.ID) {
				report(line, "id %s is not a system presence's: add its name in a %s column", m.ID, colNames[colPresence])
				continue
			}
			m.Presence = name
		}
		if err := m.Check(); err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				report(line, "%v", e)
			}
			continue
		}
		if prev, dup := seen[m.Teams]; dup {
			report(line, "duplicate key %q (also line %d)", m.Teams, prev)
			continue
		}
		seen[m.Teams] = line
		ms = append(ms, m)
		lines = append(lines, line)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	if len(ms) == 0 {
		return nil, []string{path + ": no mappings found"}
	}
	// What holds for each row alone may not hold for the table: run the
	// entries through the configuration's own rules (one id per presence)
	// and report at the row.
	doc := "[sip]\ndomain = \"import.invalid\"\n[[extensions]]\nnumber = \"1\"\nname = \"x\"\n[genesys]\n" + formatGenesysMappings(path, ms)
	if _, err := configs.Parse("import", []byte(doc)); err != nil {
		var ps configs.Errors
		if !errors.As(err, &ps) {
			return nil, []string{fmt.Sprintf("%s: %v", path, err)}
		}
		for _, p := range ps {
			rest, ok := strings.CutPrefix(p.Key, "genesys.mappings[")
			i, key, _ := strings.Cut(rest, "]")
			n, err := strconv.Atoi(i)
			if !ok || err != nil || n >= len(lines) {
				problems = append(problems, fmt.Sprintf("%s: %s: %s", path, p.Key, p.Msg))
				continue
			}
			if key = strings.TrimPrefix(key, "."); key != "" {
				key += ": "
			}
			msg := mappingRef.ReplaceAllStringFunc(p.Msg, func(ref string) string {
				j, _ := strconv.Atoi(mappingRef.FindStringSubmatch(ref)[1])
				if j < len(lines) {
					return "line " + strconv.Itoa(lines[j])
				}
				return ref
			})
			report(lines[n], "%s%s", key, msg)
		}
		return nil, problems
	}
	return ms, nil
}

// mappingRef is how a configuration problem refers to another entry.
var mappingRef = regexp.MustCompile(`genesys\.mappings\[(\d+)\]`)

// columns reads the first row: a header naming the columns, or a first
// mapping, whose shape then fixes the columns. msg explains a row that is
// neither.
func columns(rec []string) (cols []int, header bool, msg string) {
	known := slices.Contains(configs.TeamsAvailabilities, rec[0]) || slices.Contains(configs.TeamsActivities, rec[0])
	if known || slices.ContainsFunc(rec, configs.IsGUID) {
		switch {
		case len(rec) == 1:
			return nil, false, fmt.Sprintf("missing column: want %s, %s and %s (or a header row naming them)", colNames[colTeams], colNames[colPresence], colNames[colID])
		case len(rec) == 2 && configs.IsGUID(rec[1]):
			return []int{colTeams, colID}, false, ""
		case len(rec) == 2:
			return []int{colTeams, colPresence}, false, ""
		}
		return []int{colTeams, colPresence, colID}, false, ""
	}

	for len(rec) > 0 && rec[len(rec)-1] == "" {
		rec = rec[:len(rec)-1]
	}
	var have [len(colNames)]bool
	for _, f := range rec {
		c := columnOf(f)
		switch {
		case c < 0 && columnOf(rec[0]) >= 0:
			return nil, true, fmt.Sprintf("header: unknown column %q (want %s, %s and %s)", f, colNames[colTeams], colNames[colPresence], colNames[colID])
		case c < 0:
			return nil, true, fmt.Sprintf("neither a header nor a mapping: unknown column %q in the header (want %s, %s and %s), or unknown Teams value %q in a mapping",
				f, colNames[colTeams], colNames[colPresence], colNames[colID], rec[0])
		case have[c]:
			return nil, true, fmt.Sprintf("header: two columns are %s", colNames[c])
		}
		have[c] = true
		cols = append(cols, c)
	}
	switch {
	case !have[colTeams]:
		return nil, true, fmt.Sprintf("header: missing column %s (the Teams value)", colNames[colTeams])
	case !have[colPresence] && !have[colID]:
		return nil, true, fmt.Sprintf("header: missing column %s or %s", colNames[colPresence], colNames[colID])
	}
	return cols, true, ""
}

// columnOf recognises a header cell, the blueprint's names and the like:
// "key", "TeamsPresenceKey", "Teams Presence"; "GenesysCloudPresence",
// "GC Presence"; "GenesysCloudPresenceId", "Presence Id". -1 if none.
func columnOf(name string) int {
	n := strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' || r == '-' {
			return -1
		}
		return unicode.ToLower(r)
	}, name)
	switch {
	case n == "id" || strings.HasSuffix(n, "presenceid") || strings.HasSuffix(n, "definitionid"):
		return colID
	case n == "key" || n == "teams" || strings.HasPrefix(n, "teams") || strings.HasPrefix(n, "msteams"):
		return colTeams
	case n == "presence" || n == "name" || strings.HasPrefix(n, "genesys") || strings.HasPrefix(n, "gc"):
		return colPresence
	}
	return -1
}

func columnList(cols []int) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = colNames[c]
	}
	return strings.Join(names, ",")
}

// formatGenesysMappings writes the entries as TOML to paste under
// [genesys], with a header saying where they came from.
func formatGenesysMappings(path string, ms []configs.GenesysMapping) string {
	if strings.ContainsFunc(path, unicode.IsControl) {
		path = strconv.Quote(path)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Imported by `blfgw import-genesys-mappings` from %s\n", path)
	fmt.Fprintf(&b, "# (%d mappings). Paste under [genesys]: these entries replace the default\n", len(ms))
	b.WriteString("# mappings whole, so a Teams value left out never updates Genesys.\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "\n[[genesys.mappings]]\nteams = %s\npresence = %s\n", tomlString(m.Teams), tomlString(m.Presence))
		if m.ID != "" {
			fmt.Fprintf(&b, "id = %s\n", tomlString(m.ID))
		}
	}
	return b.String()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
