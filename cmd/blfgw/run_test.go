package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigCommand(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[sip]\ndomian = \"x\"\n[[extensions]]\nnumber = \"1001\"\nname = \"A\"\ndepartment = \"Nope\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"check-config", bad}, &out, &errOut)
	if exitCode(err) != 3 {
		t.Fatalf("bad config: exit %d (%v)", exitCode(err), err)
	}
	for _, want := range []string{
		bad + `:2:1: sip.domian: unknown key (did you mean "domain"?)`,
		bad + `:6:14: extensions[0].department: unknown department "Nope"`,
		"problem(s)",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, errOut.String())
		}
	}

	out.Reset()
	if err := run(context.Background(), []string{"check-config", "../../configs/example.toml"}, &out, &errOut); err != nil {
		t.Fatalf("example.toml: %v", err)
	}
	if !strings.Contains(out.String(), "ok (6 extensions") {
		t.Fatalf("example.toml: %q", out.String())
	}
	if err := run(context.Background(), []string{"check-config", filepath.Join(dir, "missing.toml")}, &out, &errOut); exitCode(err) != 3 {
		t.Fatalf("missing file: exit %d", exitCode(err))
	}
}

func TestCLIUsage(t *testing.T) {
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "blfgw ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	for _, args := range [][]string{nil, {"frob"}, {"check-config"}, {"serve", "-nope"}, {"serve", "extra"}} {
		if err := run(context.Background(), args, &out, &errOut); exitCode(err) != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, exitCode(err))
		}
	}
	err := run(context.Background(), []string{"serve", "-config", "../../configs/example.toml", "-sip", "bogus:1"}, &out, &errOut)
	if exitCode(err) != 3 || !strings.Contains(errOut.String(), "sip.listen[0] (from -sip flag)") {
		t.Fatalf("bad -sip: exit %d\n%s", exitCode(err), errOut.String())
	}
}
