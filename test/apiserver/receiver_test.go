package apiserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository's root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find this file's path")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// runtimeName is a JavaScript runtime the built receiver runs on.
type runtimeName string

const (
	nodeRuntime runtimeName = "node"
	bunRuntime  runtimeName = "bun"
)

// runtimeCommand is the command line for the receiver on rt: Node 24 from $NODE24 (else node on
// PATH) on dist/node.js, Bun from $BUN (else bun on PATH) on dist/bun.js. A missing Bun skips the
// test, except in CI, where it fails.
func runtimeCommand(t testing.TB, rt runtimeName) []string {
	t.Helper()
	root := repoRoot(t)
	find := func(env, name string) string {
		if p := os.Getenv(env); p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI (set $%s or put %s on PATH)", name, env, name)
			}
			t.Skipf("%s not found ($%s unset and no %s on PATH)", name, env, name)
		}
		return p
	}
	dist := filepath.Join(root, "apps", "receiver", "dist")
	if _, err := os.Stat(filepath.Join(dist, "node.js")); err != nil {
		t.Fatalf("the receiver is not built (%v): pnpm --filter @kube-audit/receiver run build", err)
	}
	if rt == bunRuntime {
		return []string{find("BUN", "bun"), filepath.Join(dist, "bun.js")}
	}
	return []string{find("NODE24", "node"), filepath.Join(dist, "node.js")}
}

// receiver is the built receiver running as a process of its own; stdout and stderr go to files.
type receiver struct {
	t          testing.TB
	cmd        *exec.Cmd
	stdoutPath string
	stderrPath string
	httpPort   int
	httpsPort  int
	done       chan struct{}
	exitErr    error
}

// receiverOptions are how a receiver process is started.
type receiverOptions struct {
	// env is set on top of a minimal environment (PATH, LOG_LEVEL=info), as a Deployment would.
	env map[string]string
	// netns runs the receiver inside that network namespace (ip netns exec).
	netns string
	// paused, when set, puts stdout on a pipe that is read only while paused is false: a log
	// agent that has stopped reading, so the receiver's output backs up.
	paused *atomic.Bool
}

// startReceiver starts the receiver; its stdout goes to <dir>/<name>.stdout. It returns once the
// receiver logged "listening".
func startReceiver(t testing.TB, rt runtimeName, dir, name string, o receiverOptions) *receiver {
	t.Helper()
	args := runtimeCommand(t, rt)
	if o.netns != "" {
		args = append([]string{"ip", "netns", "exec", o.netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LOG_LEVEL=info"}
	for k, v := range o.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &receiver{t: t, cmd: cmd, stdoutPath: filepath.Join(dir, name+".stdout"), stderrPath: filepath.Join(dir, name+".stderr"), done: make(chan struct{})}
	stdout, err := os.Create(r.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(r.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	copied := make(chan struct{})
	if o.paused == nil {
		cmd.Stdout = stdout
		close(copied)
	} else {
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(copied)
			buf := make([]byte, 16*1024)
			for {
				if o.paused.Load() {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				n, err := pipe.Read(buf)
				_, _ = stdout.Write(buf[:n])
				if err != nil {
					return
				}
			}
		}()
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start receiver: %v", err)
	}
	go func() {
		<-copied
		r.exitErr = cmd.Wait()
		stdout.Close()
		stderr.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range r.stderrLines() {
			if line["msg"] == "listening" {
				if p, ok := line["http"].(float64); ok {
					r.httpPort = int(p)
				}
				if p, ok := line["https"].(float64); ok {
					r.httpsPort = int(p)
				}
				return r
			}
		}
		select {
		case <-r.done:
			t.Fatalf("receiver %s exited before listening (%v); stderr:\n%s", name, r.exitErr, r.stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver %s did not log \"listening\" in 30 s; stderr:\n%s", name, r.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *receiver) stderr() string {
	b, _ := os.ReadFile(r.stderrPath)
	return string(b)
}

// stderrLines are the receiver's JSON diagnostics so far.
func (r *receiver) stderrLines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stderr()))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// stop sends SIGTERM and waits for the receiver to drain and exit 0.
func (r *receiver) stop() {
	r.t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(60 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
		r.t.Fatalf("receiver did not exit within 60 s of SIGTERM")
	}
	if r.exitErr != nil {
		r.t.Errorf("receiver exited with %v after SIGTERM; stderr:\n%s", r.exitErr, r.stderr())
	}
}

// kill ends the receiver at once, as a crash or an evicted pod would.
func (r *receiver) kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// metric reads one sample of the receiver's /metrics over plain HTTP.
func (r *receiver) metric(t testing.TB, name string) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.httpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}

// readLines returns the non-empty lines of the files, in order.
func readLines(t testing.TB, paths ...string) []string {
	t.Helper()
	var lines []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines
}
