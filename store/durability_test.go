package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const helperEnv = "BLFGW_STORE_HELPER_DB"

// TestHelperProcess is not a test: TestKillAfterCommit runs the test binary
// again with helperEnv set, and this function is then the child. It commits
// rows, says so, and keeps writing until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestKillAfterCommit")
	}
	ctx := context.Background()
	db, err := Open(ctx, path, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	// 64 concurrent writers, so the committed rows span many group commits.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := g; i < 1000; i += 64 {
				if err := db.PutSubscriptions(ctx, []Subscription{sub(i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Println("put:", err)
		os.Exit(2)
	}
	if err := db.SetMeta(ctx, "clean_shutdown", "0"); err != nil {
		fmt.Println("meta:", err)
		os.Exit(2)
	}
	fmt.Println("committed")
	// Keep the writer busy so the kill lands in the middle of transactions.
	for i := 1000; ; i++ {
		if err := db.PutSubscriptions(ctx, []Subscription{sub(i)}); err != nil {
			fmt.Println("put:", err)
			os.Exit(2)
		}
	}
}

// TestKillAfterCommit: what a write method reported as committed survives a
// SIGKILL of the process, and the file is intact.
func TestKillAfterCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "blfgw.db")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == "committed" {
			break
		}
	}
	if len(lines) == 0 || lines[len(lines)-1] != "committed" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child did not commit: %q", lines)
	}
	// Kill at once: the child is already in its next batches, and any delay
	// would give a write that returned too early time to commit after all.
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code, no Close
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws := cmd.ProcessState; ws == nil || ws.Success() || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child was not killed: %v", err)
	}

	db := openAt(t, path)
	subs, err := db.Subscriptions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byID := make(map[string]Subscription, len(subs))
	for _, s := range subs {
		byID[s.ID] = s
	}
	for i := range 1000 {
		if s, ok := byID[sub(i).ID]; !ok || !equalSub(s, sub(i)) {
			t.Fatalf("committed subscription %d lost or changed: %+v", i, s)
		}
	}
	if v, ok, err := db.Meta(t.Context(), "clean_shutdown"); err != nil || !ok || v != "0" {
		t.Fatalf("meta = %q, %v, %v", v, ok, err)
	}
	var check string
	if err := db.rdb.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	t.Logf("%d rows committed before the kill, %d after", 1000, len(subs)-1000)
}
