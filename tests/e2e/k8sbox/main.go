// Command k8sbox is test infrastructure for kubectl-dra: one binary that runs
// etcd (embedded), kube-apiserver, kube-scheduler or kube-controller-manager,
// built from the Kubernetes Go modules at the version pinned in go.mod.
//
// Usage:
//
//	k8sbox etcd --data-dir DIR --client-url http://127.0.0.1:PORT --peer-url http://127.0.0.1:PORT
//	k8sbox kube-apiserver FLAGS...
//	k8sbox kube-scheduler FLAGS...
//	k8sbox kube-controller-manager FLAGS...
//	k8sbox pki --dir DIR [--user NAME[=GROUP,...]]...
//	k8sbox version
//	k8sbox oracle alloc|cel < cases.jsonl   (upstream's answers for the differential tests)
//
// Each component runs as its own process; tests/e2e/cluster.py starts them.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/component-base/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: k8sbox etcd|kube-apiserver|kube-scheduler|kube-controller-manager|pki|oracle|version [FLAGS...]")
	os.Exit(2)
}

func runCobra(cmd *cobra.Command, args []string) {
	cmd.SetArgs(args)
	os.Exit(cli.Run(cmd))
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	sub, args := os.Args[1], os.Args[2:]
	switch sub {
	case "etcd":
		os.Exit(runEtcd(args))
	case "kube-apiserver":
		runCobra(apiserver.NewAPIServerCommand(), args)
	case "kube-scheduler":
		runCobra(scheduler.NewSchedulerCommand(), args)
	case "kube-controller-manager":
		runCobra(controllermanager.NewControllerManagerCommand(), args)
	case "pki":
		os.Exit(runPKI(args))
	case "oracle":
		os.Exit(runOracle(args))
	case "version":
		fmt.Println(version.Get().GitVersion)
	default:
		usage()
	}
}
