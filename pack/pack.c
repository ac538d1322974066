/*
 * pack.c: ukit-pack, inspect, check, convert and compare images (raw,
 * qcow2, ELF, flat binary).  The formats live in libukit; this file parses
 * options and prints: one file per command (info.c, check.c, compare.c,
 * convert.c), the dispatch table and shared helpers here.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli_oci.h"
#include "err.h"
#include "image.h"
#include "pack.h"

static const struct cli_cmd cmds[] = {
	{ "info", cmd_info,
	  "info [--output=json|human] [--json] [-f FMT] [-U] IMAGE",
	  "Print what IMAGE is: its format, sizes and format details, as qemu-img info does.\n"
	  "--output=json|human\tprint JSON or text (default: human)\n"
	  "--json\tthe same as --output=json\n"
	  "-f, --format FMT\tread IMAGE as FMT (default: probe it)\n"
	  "-U, --force-share\tread IMAGE even while a writer holds its lock\n" },
	{ "convert", cmd_convert,
	  "convert [-f FMT] -O raw|qcow2|bin|elf [-c] [-o OPTS]\n"
	  "        [--compress zlib|zstd] [--level N] [--cluster-size N]\n"
	  "        [--compat 0.10|1.1] [-B BACKING [-F FMT]] [-n]\n"
	  "        [-t CACHE] [-T CACHE] [-W] [-m N] [-j N] [-p|-q]\n"
	  "        [--load-addr A --entry A --arch ARCH] [--allow-backing]\n"
	  "        [--no-check] [-U] IN OUT",
	  "Convert IN to OUT in another format, as qemu-img convert does.\n"
	  "-f FMT\tread IN as FMT (default: probe it)\n"
	  "-O FMT\tformat of OUT: raw, qcow2, bin or elf\n"
	  "-c\tcompress the qcow2 clusters\n"
	  "-o, --options OPTS\tqcow2 creation options, as qemu-img -o takes them\n"
	  "--compress ALG\tcompression: zlib or zstd\n"
	  "--level N\tcompression level\n"
	  "--cluster-size N\tqcow2 cluster size in bytes\n"
	  "--compat VER\tqcow2 version: 0.10 or 1.1\n"
	  "-B BACKING\tmake OUT a qcow2 overlay of BACKING\n"
	  "-F FMT\tformat of BACKING\n"
	  "-n\twrite into an existing OUT (a device, a file, a qcow2)\n"
	  "-t, --cache CACHE\tcache mode of OUT\n"
	  "-T CACHE\tcache mode of IN\n"
	  "-W\tallow out-of-order writes (ukit always writes in parallel)\n"
	  "-m N\tparallel writers (the same as -j)\n"
	  "-j N\tworker threads\n"
	  "-p, --progress\tshow a progress bar\n"
	  "-q, --quiet\tno progress bar\n"
	  "--load-addr A\tload address of a flat binary (bin to elf)\n"
	  "--entry A\tentry point of a flat binary (bin to elf)\n"
	  "--arch ARCH\tmachine of a flat binary (bin to elf)\n"
	  "--allow-backing\tread through IN's backing file\n"
	  "--no-check\tdo not check a qcow2 IN before converting it\n"
	  "-U, --force-share\tread IN even while a writer holds its lock\n" },
	{ "disk", cmd_disk,
	  "disk -O raw|qcow2 [--cmdline S] [--firmware bios|uefi|both]\n"
	  "        [--size N] [--module F]... [-c zlib|zstd] [--level N]\n"
	  "        [--cluster-size N] [--compat 0.10|1.1] [-j N] [-q] KERNEL OUT",
	  "Make a bootable disk image OUT that boots KERNEL.\n"
	  "-O FMT\tformat of OUT: raw or qcow2\n"
	  "--cmdline S\tkernel command line\n"
	  "--firmware FW\tboot with bios, uefi or both (default: both)\n"
	  "--size N\tsize of the disk (default: what the files need)\n"
	  "--module F\tadd a boot module (repeatable)\n"
	  "-c ALG\tcompress qcow2 clusters with zlib or zstd\n"
	  "--level N\tcompression level\n"
	  "--cluster-size N\tqcow2 cluster size in bytes\n"
	  "--compat VER\tqcow2 version: 0.10 or 1.1\n"
	  "-j N\tworker threads\n"
	  "-q, --quiet\tprint nothing on success\n" },
	{ "check", cmd_check,
	  "check [--output=json|human] [--json] [-f qcow2] [-U] IMAGE",
	  "Check the consistency of a qcow2 IMAGE, as qemu-img check does.\n"
	  "--output=json|human\tprint JSON or text (default: human)\n"
	  "--json\tthe same as --output=json\n"
	  "-f, --format FMT\tread IMAGE as FMT (qcow2)\n"
	  "-U, --force-share\tread IMAGE even while a writer holds its lock\n" },
	{ "measure", cmd_measure,
	  "measure [--output=json|human] [--json] [-f FMT] [-O raw|qcow2] [-o OPTS]\n"
	  "        [-c] [-U] (--size SIZE | IMAGE)",
	  "Print the size a converted or new image needs, as qemu-img measure does.\n"
	  "--output=json|human\tprint JSON or text (default: human)\n"
	  "--json\tthe same as --output=json\n"
	  "-f FMT\tread IMAGE as FMT (default: probe it)\n"
	  "-O FMT\tformat to measure for: raw or qcow2\n"
	  "-o, --options OPTS\tqcow2 creation options, as qemu-img -o takes them\n"
	  "-c\tcompressed qcow2\n"
	  "--size SIZE\tmeasure a new image of SIZE instead of IMAGE\n"
	  "-U, --force-share\tread IMAGE even while a writer holds its lock\n" },
	{ "map", cmd_map,
	  "map [--output=json|human] [--json] [-f FMT] [-U] IMAGE",
	  "Print which ranges of IMAGE hold data and where, as qemu-img map does.\n"
	  "--output=json|human\tprint JSON or text (default: human)\n"
	  "--json\tthe same as --output=json\n"
	  "-f, --format FMT\tread IMAGE as FMT: raw or qcow2 (default: probe it)\n"
	  "-U, --force-share\tread IMAGE even while a writer holds its lock\n" },
	{ "create", cmd_create,
	  "create [-f raw|qcow2] [-o OPTS] [-b BACKING -F FMT] [-u] [-U] [-q]\n"
	  "        FILE [SIZE]",
	  "Create an image FILE of SIZE bytes, as qemu-img create does.\n"
	  "-f, --format FMT\tformat of FILE: raw or qcow2 (default: raw)\n"
	  "-o, --options OPTS\tqcow2 creation options, as qemu-img -o takes them\n"
	  "-b, --backing BACKING\tmake FILE a qcow2 overlay of BACKING\n"
	  "-F, --backing-format FMT\tformat of BACKING: raw or qcow2\n"
	  "-u\tdo not open BACKING (SIZE must be given)\n"
	  "-U, --force-share\tread BACKING even while a writer holds its lock\n"
	  "-q, --quiet\tprint nothing on success\n" },
	{ "resize", cmd_resize,
	  "resize [-f raw|qcow2] [--shrink] [-q] FILE [+|-]SIZE",
	  "Grow or shrink the image FILE to SIZE, as qemu-img resize does.\n"
	  "-f, --format FMT\tread FILE as FMT: raw or qcow2 (default: probe it)\n"
	  "--shrink\tallow the image to shrink (its tail is lost)\n"
	  "-q, --quiet\tprint nothing on success\n" },
	{ "snapshot", cmd_snapshot,
	  "snapshot -l [--output=json|human] [--json] [-f qcow2] [-U] [-q] IMAGE",
	  "List the internal snapshots of a qcow2 IMAGE, as qemu-img snapshot -l does\n"
	  "(-c, -d and -a, which change snapshots, are refused).\n"
	  "-l, --list\tlist the snapshots\n"
	  "--output=json|human\tprint JSON or text (default: human)\n"
	  "--json\tthe same as --output=json\n"
	  "-f FMT\tread IMAGE as FMT (qcow2)\n"
	  "-U, --force-share\tread IMAGE even while a writer holds its lock\n"
	  "-q\tignored (qemu-img compatibility)\n" },
	{ "compare", cmd_compare,
	  "compare [-s] [--json] [--allow-backing] [--no-check] [-U] A B",
	  "Compare the guest-visible contents of images A and B, as qemu-img compare does.\n"
	  "-s, --strict\ta size difference is a difference\n"
	  "--json\tprint the result as JSON\n"
	  "--allow-backing\tread through backing files\n"
	  "--no-check\tdo not check qcow2 images before comparing them\n"
	  "-U, --force-share\tread the images even while a writer holds a lock\n" },
	{ "oci", cmd_oci,
	  "oci build|push|pull|inspect|extract [options] ARGS...",
	  "Build an OCI image of a unikernel, push it to, pull it from, inspect or\n"
	  "extract it from an OCI layout or a registry.  Its forms:\n"
	  "  ukit-pack oci build [--disk IMG] [--initrd F] [--cmdline S] [--target T]\n"
	  "      [--unikernel-type T] [--arch A] [-c gzip|zstd] [--level N]\n"
	  "      [--annotation K=V]... [--json] -o oci:DIR[:TAG]|oci-archive:FILE[:TAG] KERNEL\n"
	  "  ukit-pack oci push [REGOPTS] [--chunk-size N] [--mount-from REPO] [--json]\n"
	  "      [--no-signatures] SRC docker://HOST/REPO[:TAG]\n"
	  "  ukit-pack oci pull [REGOPTS] [--verify-pub KEY | --verify-ca ROOT]\n"
	  "      [--no-signatures] SRC DST\n"
	  "  ukit-pack oci inspect [REGOPTS] [--json] REF\n"
	  "  ukit-pack oci extract [REGOPTS] --kernel-out F [--disk-out F] [--initrd-out F] REF\n"
	  "REGOPTS are the options --authfile to --ca-file below.\n"
	  "--disk IMG\tbuild: the disk image layer\n"
	  "--initrd F\tbuild: the initrd layer\n"
	  "--cmdline S\tbuild: the kernel command line\n"
	  "--target T\tbuild: hvt, spt, virtio, qemu, firecracker or xen\n"
	  "--unikernel-type T\tbuild: the unikernel's type annotation\n"
	  "--arch A\tbuild: the platform architecture\n"
	  "-c, --compress ALG\tbuild: compress layers with gzip or zstd\n"
	  "--level N\tbuild: compression level\n"
	  "--annotation K=V\tbuild: add a manifest annotation (repeatable)\n"
	  "-o, --output REF\tbuild: the layout to write, oci:DIR[:TAG] or oci-archive:FILE[:TAG]\n"
	  "--json\tbuild, push, inspect: print JSON\n"
	  "--chunk-size N\tpush: upload blobs in chunks of N bytes\n"
	  "--verify-pub KEY\tpull: the image's signature must verify with KEY\n"
	  "--verify-ca ROOT\tpull: the image's signature must chain to ROOT\n"
	  "--no-signatures\tpush, pull: leave the image's signatures behind\n"
	  "--kernel-out F\textract: write the kernel to F\n"
	  "--disk-out F\textract: write the disk layer to F\n"
	  "--initrd-out F\textract: write the initrd layer to F\n"
	  CLI_OCI_REGOPTS_HELP CLI_OCI_MOUNT_FROM_HELP },
};

void open_err(const struct fmt_err *e)
{
	cli_err(e);
	if (strstr(e->msg, IMAGE_IN_USE) != NULL)
		fprintf(stderr, "ukit-pack: -U (--force-share) reads it "
			"anyway, as qemu-img -U does\n");
}

/* Print (j) to stdout, indented, and release it.  0 or -1. */
int print_json(json_t *j)
{
	int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (rc < 0) {
		cli_errx("cannot write JSON");
		return -1;
	}
	putchar('\n');
	return 0;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	return cli_main("ukit-pack", cmds, sizeof cmds / sizeof cmds[0],
			argc, argv);
}
