package apiserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
)

// apiServer is a kube-apiserver running in this process.
type apiServer struct {
	kubeapiservertesting.TestServer
	auditLog string
	stopped  bool
}

// startAPIServer starts kube-apiserver with the audit policy and, when webhookConfig is set, the
// audit webhook, beside the log backend writing <dir>/apiserver-audit.log. The webhook's batch
// flags stay at their defaults (buffer 10000, 400 events a batch, 10 batches/s, burst 15, retry
// backoff 10 s) except --audit-webhook-batch-max-wait, 1 s instead of 30 s, so a test does not
// wait half a minute for a batch.
func startAPIServer(t testing.TB, dir, policyFile, webhookConfig string, extra ...string) *apiServer {
	t.Helper()
	logPath := filepath.Join(dir, "apiserver-audit.log")
	flags := []string{
		"--audit-policy-file=" + policyFile,
		"--audit-log-path=" + logPath,
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		// No rotation: the file is read whole afterwards.
		"--audit-log-maxsize=0",
		"--audit-log-maxbackup=0",
		// Test servers have no controller-manager: nothing would create the default
		// ServiceAccount that the ServiceAccount admission plugin waits for
		// (test/integration/framework.DefaultTestServerFlags does the same).
		"--disable-admission-plugins=ServiceAccount",
		// A cluster's authorizer, so that forbidden requests are forbidden (test servers allow
		// everything by default).
		"--authorization-mode=Node,RBAC",
	}
	if webhookConfig != "" {
		flags = append(flags, "--audit-webhook-config-file="+webhookConfig, "--audit-webhook-batch-max-wait=1s")
	}
	flags = append(flags, extra...)
	opts := kubeapiservertesting.NewDefaultTestServerOptions()
	s, err := kubeapiservertesting.StartTestServer(t, opts, flags, storageConfig())
	if err != nil {
		t.Fatalf("start kube-apiserver with %s: %v", strings.Join(flags, " "), err)
	}
	a := &apiServer{TestServer: s, auditLog: logPath}
	t.Cleanup(a.stop)
	return a
}

// stop shuts the API server down; its audit backends flush what they hold (the webhook's
// buffered backend sends its last batches) before it returns.
func (a *apiServer) stop() {
	if a.stopped {
		return
	}
	a.stopped = true
	a.TearDownFn()
}

// artifacts keeps a scenario's API server log and receiver stdout (several receivers' one after
// the other) under $E2E_ARTIFACTS_DIR/<name>; a run without a receiver keeps only the log.
func artifacts(t testing.TB, name, auditLog string, stdouts ...string) {
	t.Helper()
	root := os.Getenv("E2E_ARTIFACTS_DIR")
	if root == "" {
		return
	}
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTo := func(dst string, srcs ...string) {
		var all []byte
		for _, src := range srcs {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Errorf("artifact %s: %v", src, err)
				continue
			}
			all = append(all, b...)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), all, 0o644); err != nil {
			t.Error(err)
		}
	}
	copyTo("apiserver-audit.log", auditLog)
	if len(stdouts) > 0 {
		copyTo("receiver.stdout", stdouts...)
	}
}
