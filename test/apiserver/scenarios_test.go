package apiserver

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// everythingPolicy records every stage of every request with both bodies: the most the API
// server can send, so redaction and truncation have something to do.
const everythingPolicy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: RequestResponse\n"

func writeFile(t testing.TB, path, text string) string {
	t.Helper()
	must(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// webhookScenario is one run: a receiver in one webhook mode, an API server sending to it.
type webhookScenario struct {
	name    string
	runtime runtimeName
	mode    webhookMode
	// policy is the API server's --audit-policy-file; "" = deploy/apiserver/audit-policy.yaml.
	policy string
	// cluster sets CLUSTER_NAME on the receiver.
	cluster  string
	workload workloadOptions
}

// receiverEnv is the receiver's environment for a webhook mode, as docs/security.md sets it up:
// the files it made, under the names the Deployment mounts them as.
func receiverEnv(mode webhookMode, p pki, httpPort, httpsPort int) map[string]string {
	env := map[string]string{
		"PORT":          fmt.Sprint(httpPort),
		"TLS_PORT":      fmt.Sprint(httpsPort),
		"TLS_CERT_FILE": filepath.Join(p.dir, "tls.crt"),
		"TLS_KEY_FILE":  filepath.Join(p.dir, "tls.key"),
	}
	switch mode {
	case modeHTTP:
		env["TLS_CERT_FILE"] = filepath.Join(p.dir, "absent.crt")
		env["TLS_KEY_FILE"] = filepath.Join(p.dir, "absent.key")
	case modeMTLS:
		env["TLS_CLIENT_CA_FILE"] = filepath.Join(p.dir, "ca.crt")
		env["HTTP_ENABLED"] = "false"
	case modeToken:
		env["AUTH_TOKEN_FILE"] = filepath.Join(p.dir, "kube-audit-token")
	}
	return env
}

// webhookHostPort is where the webhook kubeconfig points: loopback, stood in for the ClusterIP
// that the certificate carries as its IP SAN.
func webhookHostPort(mode webhookMode, httpPort, httpsPort int) string {
	if mode == modeHTTP {
		return fmt.Sprintf("127.0.0.1:%d", httpPort)
	}
	return fmt.Sprintf("127.0.0.1:%d", httpsPort)
}

// runWebhookScenario runs the workload through a real API server into a real receiver and
// checks the receiver's stdout against the API server's log.
func runWebhookScenario(t *testing.T, sc webhookScenario) {
	dir := t.TempDir()
	p := makePKI(t, "127.0.0.1")
	ports, err := freePorts(2)
	must(t, err)
	env := receiverEnv(sc.mode, p, ports[0], ports[1])
	if sc.cluster != "" {
		env["CLUSTER_NAME"] = sc.cluster
	}
	r := startReceiver(t, sc.runtime, dir, "receiver", receiverOptions{env: env})
	if sc.mode != modeHTTP && r.httpsPort != ports[1] {
		t.Fatalf("receiver serves HTTPS on %d, want %d", r.httpsPort, ports[1])
	}
	kubeconfig := filepath.Join(dir, "webhook.kubeconfig.yaml")
	renderKubeconfig(t, sc.mode, webhookHostPort(sc.mode, ports[0], ports[1]), p, kubeconfig)
	policy := sc.policy
	if policy == "" {
		policy = filepath.Join(repoRoot(t), "deploy", "apiserver", "audit-policy.yaml")
	}
	api := startAPIServer(t, dir, policy, kubeconfig)
	res := runWorkload(t, api.ClientConfig, dir, sc.workload)
	shutdownAt := time.Now()
	api.stop()
	r.stop()
	artifacts(t, sc.name, api.auditLog, r.stdoutPath)

	logLines := readLines(t, api.auditLog)
	outLines := readLines(t, r.stdoutPath)
	n := matchLogToStdout(t, logLines, outLines, expectations{cluster: sc.cluster, secrets: res.secrets, shutdownAt: shutdownAt})
	t.Logf("%d events in the API server's log, %d lines on the receiver's stdout, %d matched", len(logLines), len(outLines), n)
	if len(logLines) == 0 {
		t.Fatal("the API server logged no events")
	}
	// With every body recorded, the documented changes must have had something to do: the
	// Secrets' values redacted, the 1 MiB ConfigMap's event cut below MAX_EVENT_BYTES.
	if sc.policy != "" {
		out := strings.Join(outLines, "\n")
		if !strings.Contains(out, `"`+annotationRedacted+`":"true"`) {
			t.Error("no event was redacted, though Secrets with data were written at RequestResponse")
		}
		if sc.workload.bigConfigMaps && !strings.Contains(out, `"`+annotationTruncated+`":"true"`) {
			t.Error("no event was truncated, though a 1 MiB ConfigMap was written at RequestResponse")
		}
	}
}

// TestWebhookModes sends a real API server's audit webhook to the receiver in every mode of
// deploy/apiserver/ (HTTP, HTTPS checked against the CA, mTLS, bearer token), on Node 24 and on
// Bun, with certificates made by the commands in docs/security.md.
func TestWebhookModes(t *testing.T) {
	everything := writeFile(t, filepath.Join(t.TempDir(), "everything.yaml"), everythingPolicy)
	for _, rt := range []runtimeName{nodeRuntime, bunRuntime} {
		for _, sc := range []webhookScenario{
			{mode: modeHTTP, workload: workloadOptions{kubectl: true}},
			{mode: modeHTTPSCA, policy: everything, workload: workloadOptions{bigConfigMaps: true}},
			{mode: modeMTLS, policy: everything, cluster: "prod-eu"},
			{mode: modeToken},
		} {
			sc.runtime = rt
			sc.name = fmt.Sprintf("%s-%s", sc.mode, rt)
			sc.workload.namespace = "e2e-" + sc.name
			t.Run(sc.name, func(t *testing.T) { runWebhookScenario(t, sc) })
		}
	}
}

// runSmallScenario runs a workload function through an API server with policy into a receiver
// over HTTP, and checks stdout against the log with exp.
func runSmallScenario(t *testing.T, name, policy string, work func(t *testing.T, cfg *rest.Config) []string) {
	dir := t.TempDir()
	ports, err := freePorts(2)
	must(t, err)
	r := startReceiver(t, nodeRuntime, dir, "receiver", receiverOptions{env: receiverEnv(modeHTTP, pki{dir: dir}, ports[0], ports[1])})
	kubeconfig := filepath.Join(dir, "webhook.kubeconfig.yaml")
	renderKubeconfig(t, modeHTTP, webhookHostPort(modeHTTP, ports[0], ports[1]), pki{}, kubeconfig)
	api := startAPIServer(t, dir, policy, kubeconfig)
	secrets := work(t, api.ClientConfig)
	shutdownAt := time.Now()
	api.stop()
	r.stop()
	artifacts(t, name, api.auditLog, r.stdoutPath)
	matchLogToStdout(t, readLines(t, api.auditLog), readLines(t, r.stdoutPath), expectations{secrets: secrets, shutdownAt: shutdownAt})
}

// TestAuditIDReusedAcrossRequests sends two different requests with the same Audit-ID header.
// The API server takes a client's Audit-ID as the auditID unchanged
// (k8s.io/apiserver/pkg/endpoints/filters/audit_init.go, withAuditInit), so both events carry
// it; both are real requests and both must be written: only a true re-send of the same event
// may be dropped as a duplicate.
func TestAuditIDReusedAcrossRequests(t *testing.T) {
	runSmallScenario(t, "audit-id-reused", filepath.Join(repoRoot(t), "deploy", "apiserver", "audit-policy.yaml"), func(t *testing.T, cfg *rest.Config) []string {
		ctx := context.Background()
		cs := kubernetes.NewForConfigOrDie(cfg)
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "reuse"}}, metav1.CreateOptions{})
		must(t, err)
		_, err = cs.CoreV1().Secrets("reuse").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admin-token"}, StringData: map[string]string{"token": "x"}}, metav1.CreateOptions{})
		must(t, err)
		id := "reused-" + randomHex(4)
		_ = cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/reuse/configmaps").SetHeader("Audit-ID", id).Do(ctx).Error()
		must(t, cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/reuse/secrets/admin-token").SetHeader("Audit-ID", id).Do(ctx).Error())
		return nil
	})
}

// TestSecretsInTablesAndWatchEvents reads Secrets the way kubectl does (a Table, whose rows
// carry each object) and watches them, at RequestResponse: no Secret value may reach stdout.
func TestSecretsInTablesAndWatchEvents(t *testing.T) {
	everything := writeFile(t, filepath.Join(t.TempDir(), "everything.yaml"), everythingPolicy)
	runSmallScenario(t, "secrets-tables-watch", everything, func(t *testing.T, cfg *rest.Config) []string {
		ctx := context.Background()
		cs := kubernetes.NewForConfigOrDie(cfg)
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tables"}}, metav1.CreateOptions{})
		must(t, err)
		value := "tbl-" + randomHex(8)
		_, err = cs.CoreV1().Secrets("tables").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": value}}, metav1.CreateOptions{})
		must(t, err)
		// A Table with the whole object in each row (kubectl get -o wide asks for less: the
		// metadata only; includeObject=Object is what a client asking for objects gets).
		must(t, cs.CoreV1().RESTClient().Get().Namespace("tables").Resource("secrets").Param("includeObject", "Object").SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Error())
		list, err := cs.CoreV1().Secrets("tables").List(ctx, metav1.ListOptions{})
		must(t, err)
		w, err := cs.CoreV1().Secrets("tables").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, TimeoutSeconds: ptr.To[int64](2)})
		must(t, err)
		_, err = cs.CoreV1().Secrets("tables").Patch(ctx, "db", "application/merge-patch+json", []byte(`{"stringData":{"password":"`+value+`"}}`), metav1.PatchOptions{})
		must(t, err)
		for range w.ResultChan() {
		}
		return []string{value, base64.StdEncoding.EncodeToString([]byte(value))}
	})
}
