package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/blfgw/blfgw/configs"
)

// blueprintCSV is the blueprint's mapping table with the presence names,
// as testdata/genesys holds it.
const blueprintCSV = "../../testdata/genesys/MsTeamsPresenceMappings.csv"

// minimalConfig is a valid configuration ending in [genesys], under which
// the import's output is pasted.
const minimalConfig = "[sip]\ndomain = \"pbx.example.com\"\n[[extensions]]\nnumber = \"1001\"\nname = \"Alice\"\n[genesys]\nregion = \"eu-west-1\"\n"

// The ids of the blueprint's table.
var blueprintIDs = map[string]string{
	"Available": "6a3af858-942f-489d-9700-5f9bcdcdae9b",
	"Away":      "5e5c5c66-ea97-4e7f-ac41-6424784829f2",
	"Busy":      "31fe3bac-dea6-44b7-bed7-47f91660a1a0",
	"Offline":   "ccf3c10a-aa2c-4845-8e8d-f59fa48c58e5",
}

// importCSV runs the command on content written to a file named name and
// returns its output, its problems and the exit code.
func importCSV(t *testing.T, name, content string) (out, problems string, code int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"import-genesys-mappings", path}, &stdout, &stderr)
	if err != nil {
		code = exitCode(err)
	}
	return stdout.String(), strings.ReplaceAll(stderr.String(), path, name), code
}

// decodeImport pastes an import's output under [genesys] and returns the
// mappings the configuration then has.
func decodeImport(t *testing.T, out string) []configs.GenesysMapping {
	t.Helper()
	c, err := configs.Parse("pasted.toml", []byte(minimalConfig+out))
	if err != nil {
		t.Fatalf("the output does not load:\n%v\n%s", err, out)
	}
	return c.Genesys.Mappings
}

// withIDs is DefaultGenesysMappings with the blueprint's ids.
func withIDs() []configs.GenesysMapping {
	ms := configs.DefaultGenesysMappings()
	for i := range ms {
		ms[i].ID = blueprintIDs[ms[i].Presence]
	}
	return ms
}

func TestImportGenesysMappings(t *testing.T) {
	data, err := os.ReadFile(blueprintCSV)
	if err != nil {
		t.Fatal(err)
	}
	// The file is the blueprint's table: a header and 11 rows.
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 12 || lines[0] != "key,GenesysCloudPresence,GenesysCloudPresenceId" {
		t.Fatalf("%s: %d lines, header %q", blueprintCSV, len(lines), lines[0])
	}

	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"import-genesys-mappings", blueprintCSV}, &stdout, &stderr); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
	// A comment header says where it came from and what it does.
	for _, want := range []string{"# Imported by `blfgw import-genesys-mappings` from " + blueprintCSV, "(11 mappings)", "Paste under [genesys]", "replace the default"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(out, "# ") || strings.Count(out, "[[genesys.mappings]]") != 11 {
		t.Errorf("output:\n%s", out)
	}
	// Pasted under [genesys] it loads, and is the default table by name
	// with the ids of the CSV.
	got := decodeImport(t, out)
	if !slices.Equal(got, withIDs()) {
		t.Errorf("mappings =\n%v\nwant\n%v", got, withIDs())
	}
	for i, m := range got {
		d := configs.DefaultGenesysMappings()[i]
		if m.Teams != d.Teams || m.Presence != d.Presence || !strings.Contains(lines[i+1], m.ID) {
			t.Errorf("row %d: %+v, default %+v, CSV %q", i+1, m, d, lines[i+1])
		}
	}
}

// TestImportGenesysMappingsShapes: the shapes a CSV comes in all give the
// same entries.
func TestImportGenesysMappingsShapes(t *testing.T) {
	var names, ids, both, crlf strings.Builder
	for _, m := range withIDs() {
		names.WriteString(m.Teams + "," + m.Presence + "\n")
		ids.WriteString(m.Teams + "," + m.ID + "\n")
		both.WriteString(m.Teams + "," + m.Presence + "," + m.ID + "\n")
		crlf.WriteString(" " + m.Teams + " ,\t" + m.Presence + "\t, " + m.ID + " \r\n\r\n")
	}
	noIDs := configs.DefaultGenesysMappings()
	for _, tt := range []struct {
		name, csv string
		want      []configs.GenesysMapping
	}{
		{"no header", both.String(), withIDs()},
		// The blueprint's own export has only the key and the id: the
		// system presences are named from their ids.
		{"blueprint export", "key,GenesysCloudPresenceId\n" + ids.String(), withIDs()},
		{"ids without header", ids.String(), withIDs()},
		{"names only", "key,GenesysCloudPresence\n" + names.String(), noIDs},
		{"names without header", names.String(), noIDs},
		{"columns in another order", "GenesysCloudPresenceId,Teams Presence,GC Presence\n" + func() string {
			var b strings.Builder
			for _, m := range withIDs() {
				b.WriteString(m.ID + "," + m.Teams + "," + m.Presence + "\n")
			}
			return b.String()
		}(), withIDs()},
		{"BOM, CRLF, spaces, empty lines", "\ufeff\r\nkey , GenesysCloudPresence , GenesysCloudPresenceId\r\n\r\n" + crlf.String(), withIDs()},
		{"spreadsheet export", "\"key\",\"GenesysCloudPresence\",\"GenesysCloudPresenceId\",,\n" +
			strings.ReplaceAll(both.String(), "\n", ",,\n") + ",,,,\n", withIDs()},
		{"ids left empty", "key,GenesysCloudPresence,GenesysCloudPresenceId\n" + strings.ReplaceAll(names.String(), "\n", ",\n"), noIDs},
		{"secondary presences", "key,GenesysCloudPresence,GenesysCloudPresenceId\nAway,\"Lunch \"\"long\"\" \\ break\",\nBusy,Réunion,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n",
			[]configs.GenesysMapping{{Teams: "Away", Presence: `Lunch "long" \ break`}, {Teams: "Busy", Presence: "Réunion", ID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, problems, code := importCSV(t, "map.csv", tt.csv)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, problems)
			}
			if got := decodeImport(t, out); !slices.Equal(got, tt.want) {
				t.Errorf("mappings =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestImportGenesysMappingsProblems(t *testing.T) {
	const header = "key,GenesysCloudPresence,GenesysCloudPresenceId\n" // line 1
	const onQueue = `presence: "On Queue" is refused: the gateway never puts an agent on queue, which is the agent's own choice`
	for _, tt := range []struct {
		name, csv string
		want      []string
	}{
		{"unknown Teams value", header + "Available,Available,6a3af858-942f-489d-9700-5f9bcdcdae9b\nAvailble,Available,\n", []string{
			`map.csv:3: teams: unknown Teams availability or activity "Availble" (did you mean "Available"?)`}},
		{"Teams pair", header + "Busy/InACall,Busy,\n", []string{
			`map.csv:2: teams: "Busy/InACall": give one Teams availability or activity, not a pair (the activity's row is looked up first, then the availability's)`}},
		{"missing column", header + "Away,Away\nBusy\n", []string{
			`map.csv:2: missing column GenesysCloudPresenceId (want key,GenesysCloudPresence,GenesysCloudPresenceId)`,
			`map.csv:3: missing column GenesysCloudPresence (want key,GenesysCloudPresence,GenesysCloudPresenceId)`}},
		{"too many columns", "key,GenesysCloudPresenceId\nAway,5e5c5c66-ea97-4e7f-ac41-6424784829f2,Away\n", []string{
			`map.csv:2: 3 columns, want 2 (key,GenesysCloudPresenceId)`}},
		{"one column", "Available\nAway\n", []string{
			`map.csv:1: missing column: want key, GenesysCloudPresence and GenesysCloudPresenceId (or a header row naming them)`}},
		{"duplicate key", header + "Away,Away,\nBusy,Busy,\n\nAway,Lunch,\n", []string{
			`map.csv:5: duplicate key "Away" (also line 2)`}},
		{"id not a GUID", header + "Busy,Busy,31fe3bac\nAway,Away,{5e5c5c66-ea97-4e7f-ac41-6424784829f2}\n", []string{
			`map.csv:2: id: "31fe3bac" is not a presence definition id, a GUID such as 6a3af858-942f-489d-9700-5f9bcdcdae9b`,
			`map.csv:3: id: "{5e5c5c66-ea97-4e7f-ac41-6424784829f2}" is not a presence definition id, a GUID such as 6a3af858-942f-489d-9700-5f9bcdcdae9b`}},
		{"id of no system presence", "key,GenesysCloudPresenceId\nAway,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n", []string{
			`map.csv:2: id aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee is not a system presence's: add its name in a GenesysCloudPresence column`}},
		{"no presence at all", header + "Away,,\n", []string{
			`map.csv:2: presence: must not be empty`}},
		{"On Queue", header + "InACall,On Queue,\n", []string{`map.csv:2: ` + onQueue}},
		{"On Queue by id", "key,GenesysCloudPresenceId\nInACall,e08eaf1b-ee47-4fa9-a231-1200e284798f\n", []string{`map.csv:2: ` + onQueue}},
		{"every problem of a row", header + "Meeting,ON_QUEUE,x\n", []string{
			`map.csv:2: teams: unknown Teams availability or activity "Meeting"`,
			`map.csv:2: ` + strings.Replace(onQueue, `"On Queue"`, `"ON_QUEUE"`, 1),
			`map.csv:2: id: "x" is not a presence definition id, a GUID such as 6a3af858-942f-489d-9700-5f9bcdcdae9b`}},
		{"one id, two presences", header + "Available,Available,6a3af858-942f-489d-9700-5f9bcdcdae9b\nBusy,Busy,31fe3bac-dea6-44b7-bed7-47f91660a1a0\nFocusing,Heads down,6a3af858-942f-489d-9700-5f9bcdcdae9b\n", []string{
			`map.csv:4: id: 6a3af858-942f-489d-9700-5f9bcdcdae9b already names presence "Available" (line 2), so it cannot name "Heads down"`}},
		{"one presence, two ids", header + "Away,Away,5e5c5c66-ea97-4e7f-ac41-6424784829f2\nBeRightBack,Away,6a3af858-942f-489d-9700-5f9bcdcdae9b\n", []string{
			`map.csv:3: id: 6a3af858-942f-489d-9700-5f9bcdcdae9b: presence "Away" already has id 5e5c5c66-ea97-4e7f-ac41-6424784829f2 (line 2), and one presence has one id`}},
		{"unknown header column", "key,Colour\nAway,Red\n", []string{
			`map.csv:1: header: unknown column "Colour" (want key, GenesysCloudPresence and GenesysCloudPresenceId)`}},
		{"neither header nor mapping", "Availble,Available\n", []string{
			`map.csv:1: neither a header nor a mapping: unknown column "Availble" in the header (want key, GenesysCloudPresence and GenesysCloudPresenceId), or unknown Teams value "Availble" in a mapping`}},
		{"header without key", "GenesysCloudPresence,GenesysCloudPresenceId\nAway,5e5c5c66-ea97-4e7f-ac41-6424784829f2\n", []string{
			`map.csv:1: header: missing column key (the Teams value)`}},
		{"header without presence", "key\nAway\n", []string{
			`map.csv:1: header: missing column GenesysCloudPresence or GenesysCloudPresenceId`}},
		{"header twice the same column", "key,Teams Presence,GenesysCloudPresenceId\n", []string{
			`map.csv:1: header: two columns are key`}},
		{"header only", header, []string{`map.csv: no mappings found`}},
		{"empty", "\ufeff\r\n\r\n", []string{`map.csv: no mappings found`}},
		{"bad quoting", header + "Away,\"Away,\n", []string{
			`map.csv:2: extraneous or missing " in quoted-field`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, problems, code := importCSV(t, "map.csv", tt.csv)
			if code != 3 {
				t.Errorf("exit %d, want 3 (as check-config)", code)
			}
			if out != "" {
				t.Errorf("output despite problems:\n%s", out)
			}
			want := strings.Join(tt.want, "\n") + "\n" + strconv.Itoa(len(tt.want)) + " problem(s)\n"
			if problems != want {
				t.Errorf("got:\n%swant:\n%s", problems, want)
			}
		})
	}
}

func TestImportGenesysMappingsUsage(t *testing.T) {
	var out, errOut strings.Builder
	for _, args := range [][]string{{"import-genesys-mappings"}, {"import-genesys-mappings", "a.csv", "b.csv"}} {
		if err := run(context.Background(), args, &out, &errOut); exitCode(err) != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, exitCode(err))
		}
	}
	if !strings.Contains(errOut.String(), "usage: blfgw import-genesys-mappings FILE") {
		t.Errorf("usage: %q", errOut.String())
	}
	missing := filepath.Join(t.TempDir(), "missing.csv")
	errOut.Reset()
	if err := run(context.Background(), []string{"import-genesys-mappings", missing}, &out, &errOut); exitCode(err) != 3 ||
		!strings.Contains(errOut.String(), missing) {
		t.Errorf("missing file: exit %d: %s", exitCode(err), errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("output: %q", out.String())
	}
	// help lists the command.
	out.Reset()
	if err := run(context.Background(), []string{"help"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "blfgw import-genesys-mappings FILE") {
		t.Errorf("help: %v %q", err, out.String())
	}
}
