/*
 * disk.c: ukit-pack disk: a Multiboot kernel -> a GPT disk (raw or qcow2)
 * that boots under SeaBIOS and OVMF with GRUB 2.
 *
 * The boot loader is Debian's GRUB: grub-mkimage makes an i386-pc
 * core.img (BIOS) and an x86_64-efi BOOTX64.EFI (UEFI) with the few
 * modules they need and an embedded configuration that loads the kernel
 * and boots it: no menu, no timeout, no normal mode (core.img loads
 * most of its modules from the BIOS boot partition: load_pc_modules()).
 * The FAT system
 * partition is made and filled by mtools through "IMAGE@@OFFSET" (here
 * /dev/fd/N@@OFFSET): no mount, no root.  The GPT, the protective MBR and
 * the patching of GRUB's BIOS images are ukit's (bootdisk.h).  The raw
 * disk is built in the output's temporary file (raw) or in an unnamed
 * temporary file that the qcow2 writer then converts (qcow2).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "imgopen.h"
#include "io.h"
#include "bootdisk.h"
#include "bytes.h"
#include "cli.h"
#include "convert.h"
#include "elfedit.h"
#include "err.h"
#include "image.h"
#include "multiboot.h"
#include "outfile.h"
#include "pack.h"
#include "solo5.h"

#define MAX_MODULES 32
#define GRUB_LIB "/usr/lib/grub"
#define BOOT_KERNEL_NAME "kernel"    /* the first word of its command line */
#define FAT_EPOCH_MIN 315532800LL   /* 1980-01-01: FAT's first second */
#define MAX_FAT_FILE 0xffffffffull

enum { FW_BIOS = 1, FW_UEFI = 2 };

/* The BIOS boot partition: 1 MiB, reserved before core.img is made (so
 * that grub-mkimage's LZMA runs while the ESP is written); it holds
 * core.img in its first PC_CORE_ROOM bytes, then the i386-pc modules
 * (load_pc_modules), which start on a 32 KiB boundary: GRUB reads the
 * disk in blocks of 64 sectors. */
#define CORE_MAX (1u << 20)
#define PC_CORE_ROOM (128u << 10)

struct dsk {
	const char *kernel;
	int kfd;
	uint64_t ksize;
	struct ukit_mb_kernel mb;
	const char *mod_path[MAX_MODULES];
	const char *mod_name[MAX_MODULES];
	int mod_fd[MAX_MODULES];
	uint64_t mod_size[MAX_MODULES];
	unsigned nmod;
	char **words;
	size_t nwords;
	int fw;
	uint64_t size;
	long long epoch;
	char tmp[4096];            /* work directory */
	uint8_t seed[32];
	/* BIOS: the GRUB modules core.img loads from the BIOS boot
	 * partition, one after the other from its first sector */
	char pcmod[UKIT_GRUB_MAX_MODS][UKIT_GRUB_MODNAME];
	uint64_t pcmod_sectors[UKIT_GRUB_MAX_MODS];
	unsigned npcmod;
	uint8_t *pcbuf;
	size_t pclen;
	uint64_t klba;             /* BIOS: the kernel's first LBA, or 0: FAT */
};

/* ---- small helpers -------------------------------------------------- */

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long n;
	unsigned sh = 0;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0' && end[1] == '\0') {
		sh = *end == 'K' || *end == 'k' ? 10 : *end == 'M' ||
			*end == 'm' ? 20 : *end == 'G' || *end == 'g' ? 30 : 0;
		if (sh == 0)
			return -1;
		end++;
	}
	if (*end != '\0' || n > (UINT64_MAX >> sh))
		return -1;
	*v = (uint64_t)n << sh;
	return 0;
}

/*
 * Split the command line into words as a shell would, without
 * expansions: blanks separate words, '...' keeps everything, "..." and a
 * bare backslash escape one character.  0, or -1 after printing why.
 */
static int split_cmdline(const char *s, struct dsk *d)
{
	size_t len = strlen(s), cap = len / 2 + 2, n = 0, w = 0;
	char **words = calloc(cap, sizeof *words);
	char *buf = malloc(len + 1);
	char q = 0;
	bool in = false;

	if (words == NULL || buf == NULL) {
		free(words);
		free(buf);
		cli_errx("disk: out of memory");
		return -1;
	}
	for (size_t i = 0; ; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != '\0' && c != '\t' && (c < 0x20 || c == 0x7f)) {
			cli_errx("disk: --cmdline: control character 0x%02x at "
				 "offset %zu", c, i);
			goto fail;
		}
		if (q == '\'') {
			if (c == '\0')
				break;
			if (c == '\'')
				q = 0;
			else
				buf[w++] = (char)c;
			continue;
		}
		if (c == '\\') {
			if (s[i + 1] == '\0')
				break;
			buf[w++] = s[++i];
			in = true;
			continue;
		}
		if (q == '"') {
			if (c == '\0')
				break;
			if (c == '"')
				q = 0;
			else
				buf[w++] = (char)c;
			continue;
		}
		if (c == '\'' || c == '"') {
			q = (char)c;
			in = true;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\0') {
			if (in) {
				words[n] = strndup(buf, w);
				if (words[n] == NULL) {
					cli_errx("disk: out of memory");
					goto fail;
				}
				n++;
				w = 0;
				in = false;
			}
			if (c == '\0') {
				free(buf);
				d->words = words;
				d->nwords = n;
				return 0;
			}
			continue;
		}
		buf[w++] = (char)c;
		in = true;
	}
	cli_errx("disk: --cmdline: unbalanced %s", q == '\'' ?
		 "single quote" : q == '"' ? "double quote" :
		 "backslash at the end");
fail:
	for (size_t i = 0; i < n; i++)
		free(words[i]);
	free(words);
	free(buf);
	return -2;
}

/* Append (s) to (f) quoted for GRUB's parser: '...' with ' as '\''. */
static void grub_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static bool safe_name(const char *s)
{
	if (s[0] == '\0' || s[0] == '.' || strlen(s) > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		      *s == '-' || *s == '+'))
			return false;
	return true;
}

/* A child process: its pid and the pipe its output comes through. */
struct proc {
	pid_t pid;
	int fd;
	const char *name;
};

/*
 * Start (argv) with the reproducibility environment; its output is kept
 * and printed only if it fails (reap()).  Descriptors in (keep) stay open
 * in the child.  0, or -1 after printing why.
 */
static int spawn(struct dsk *d, char *const argv[], const int *keep,
		 unsigned nkeep, struct proc *pr)
{
	int p[2];
	char ep[32];

	pr->pid = -1;
	pr->name = argv[0];
	if (pipe2(p, O_CLOEXEC) < 0) {
		cli_errx("disk: pipe: %s", strerror(errno));
		return -1;
	}
	snprintf(ep, sizeof ep, "%lld", d->epoch);
	pr->pid = fork();
	if (pr->pid < 0) {
		cli_errx("disk: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pr->pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		for (unsigned i = 0; i < nkeep; i++)
			fcntl(keep[i], F_SETFD, 0);
		setenv("SOURCE_DATE_EPOCH", ep, 1);
		setenv("TZ", "UTC", 1);
		setenv("LC_ALL", "C", 1);
		setenv("MTOOLSRC", "/dev/null", 1);
		setenv("MTOOLS_SKIP_CHECK", "1", 1);
		unsetenv("MTOOLS_LOWER_CASE");
		unsetenv("MTOOLS_NO_VFAT");
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	pr->fd = p[0];
	return 0;
}

/* Wait for (pr); with (kill_it), end it first.  0 if it exited 0, else
 * -1 after printing its output. */
static int reap(struct proc *pr, bool kill_it)
{
	char out[2048];
	size_t n = 0;
	ssize_t r;
	int st = 0;

	if (pr->pid <= 0)
		return -1;
	if (kill_it)
		kill(pr->pid, SIGTERM);
	while ((r = read(pr->fd, out + n, sizeof out - 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n += (size_t)r;
		if (n == sizeof out - 1) {
			char sink[512];

			while (read(pr->fd, sink, sizeof sink) > 0)
				;
			break;
		}
	}
	close(pr->fd);
	out[n] = '\0';
	while (waitpid(pr->pid, &st, 0) < 0 && errno == EINTR)
		;
	pr->pid = -1;
	if (kill_it)
		return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	if (WIFEXITED(st))
		cli_errx("disk: %s failed (exit %d)%s%s", pr->name,
			 WEXITSTATUS(st), n ? ": " : "", out);
	else
		cli_errx("disk: %s killed by signal %d", pr->name,
			 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return -1;
}

static int run(struct dsk *d, char *const argv[], const int *keep,
	       unsigned nkeep)
{
	struct proc pr;

	if (spawn(d, argv, keep, nkeep, &pr) < 0)
		return -1;
	return reap(&pr, false);
}

/* Read all of the file (path) into (*buf), (*len); pad to (pad) bytes. */
static int slurp(const char *path, size_t pad, uint8_t **buf, size_t *len)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *b;
	size_t n, cap;

	if (fd < 0 || fstat(fd, &st) < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "cannot open");
		cli_err(&e);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	n = (size_t)st.st_size;
	cap = pad > 1 ? (n + pad - 1) / pad * pad : n;
	b = calloc(1, cap ? cap : 1);
	if (b == NULL || ukit_pread_full(fd, b, n, 0) != (ssize_t)n) {
		ukit_fmt_errno(&e, FMT_NOOFF, "cannot read");
		cli_err(&e);
		free(b);
		close(fd);
		return -1;
	}
	close(fd);
	*buf = b;
	*len = cap;
	return 0;
}

static int hash_fd(EVP_MD_CTX *c, int fd, const char *path, uint64_t size,
		   uint8_t *tmp, size_t tmplen)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };

	for (uint64_t off = 0; off < size; ) {
		size_t n = size - off < tmplen ? (size_t)(size - off) : tmplen;

		if (ukit_pread_full(fd, tmp, n, (off_t)off) != (ssize_t)n) {
			ukit_fmt_errno(&e, off, "cannot read");
			cli_err(&e);
			return -1;
		}
		EVP_DigestUpdate(c, tmp, n);
		off += n;
	}
	return 0;
}

/*
 * The seed of every derived value (GUIDs, FAT serial): SHA-256 of the
 * inputs: the kernel, the modules, the command line, the firmware and the
 * size.  (The GRUB images follow from these and the GRUB package.)
 */
static int make_seed(struct dsk *d)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t tmplen = 1u << 20;
	uint8_t *tmp = malloc(tmplen), be[8];
	unsigned mdlen;
	int rc = -1;

	if (c == NULL || tmp == NULL ||
	    EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		cli_errx("disk: out of memory");
		goto out;
	}
	EVP_DigestUpdate(c, "ukit-pack disk 1", 17);
	be64_store(be, (uint64_t)d->fw);
	EVP_DigestUpdate(c, be, 8);
	be64_store(be, d->size);
	EVP_DigestUpdate(c, be, 8);
	be64_store(be, d->nwords);
	EVP_DigestUpdate(c, be, 8);
	for (size_t i = 0; i < d->nwords; i++)
		EVP_DigestUpdate(c, d->words[i], strlen(d->words[i]) + 1);
	be64_store(be, d->ksize);
	EVP_DigestUpdate(c, be, 8);
	if (hash_fd(c, d->kfd, d->kernel, d->ksize, tmp, tmplen) < 0)
		goto out;
	for (unsigned i = 0; i < d->nmod; i++) {
		EVP_DigestUpdate(c, d->mod_name[i], strlen(d->mod_name[i]) + 1);
		be64_store(be, d->mod_size[i]);
		EVP_DigestUpdate(c, be, 8);
		if (hash_fd(c, d->mod_fd[i], d->mod_path[i], d->mod_size[i],
			    tmp, tmplen) < 0)
			goto out;
	}
	if (EVP_DigestFinal_ex(c, d->seed, &mdlen) != 1) {
		cli_errx("disk: SHA-256 failed");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	free(tmp);
	return rc;
}

/* Remove the work directory (files and directories two levels deep). */
static void rm_tree(const char *dir, int depth)
{
	DIR *dp;
	struct dirent *de;
	char p[4400];

	if ((dp = opendir(dir)) != NULL) {
		while ((de = readdir(dp)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
			if (unlink(p) < 0 && errno == EISDIR && depth < 4)
				rm_tree(p, depth + 1);
		}
		closedir(dp);
	}
	rmdir(dir);
}

static void rm_tmp(struct dsk *d)
{
	if (d->tmp[0] == '\0')
		return;
	rm_tree(d->tmp, 0);
	d->tmp[0] = '\0';
}

/*
 * The Solo5 target of the kernel on (fd) ("hvt", "virtio"...: malloc'd),
 * or NULL when it is not a Solo5 unikernel (or its notes are broken,
 * which the Multiboot checks report in their own words).
 */
static char *solo5_target(int fd, const char *path)
{
	struct fmt_err e = { .path = path, .off = FMT_NOOFF };
	json_t *facts = NULL;
	const char *t;
	char *r = NULL;

	if (ukit_solo5_facts(fd, path, &facts, &e) < 0 || facts == NULL)
		return NULL;
	t = json_string_value(json_object_get(json_object_get(facts, "abi"),
					      "target"));
	if (t != NULL)
		r = strdup(t);
	json_decref(facts);
	return r;
}

/*
 * What a Solo5 target means for a disk, said after the kernel is checked
 * (refused: rc < 0).  hvt and spt unikernels run under their tenders and
 * muen and genode ones under their hypervisors: no Multiboot header, so
 * refused, and the hint names the target that boots from a disk.  A xen
 * one has a Multiboot header beside its PVH entry, for GRUB in a Xen HVM
 * guest: the disk boots it there only (under QEMU alone, Solo5's own
 * test_hello.xen printed nothing after GRUB), which the warning says.
 */
static void solo5_note(int fd, const char *path, int rc)
{
	char *t = solo5_target(fd, path);

	if (t == NULL)
		return;
	if (rc < 0 && strcmp(t, "virtio") != 0)
		cli_errx("disk: %s is a Solo5 %s unikernel, which runs under its "
			 "%s, not from a disk; Solo5's virtio target boots from "
			 "one", path, t, strcmp(t, "hvt") == 0 ||
			 strcmp(t, "spt") == 0 ? "tender" : "hypervisor");
	else if (rc == 0 && strcmp(t, "xen") == 0)
		cli_errx("warning: disk: %s is a Solo5 xen unikernel: it needs "
			 "Xen, so the disk boots it in a Xen HVM guest only; under "
			 "QEMU or KVM alone it hangs (Solo5's virtio target boots "
			 "there)", path);
	free(t);
}

/*
 * The GRUB modules the BIOS loader needs beyond biosdisk: the Multiboot
 * loader, with (fat) GPT and FAT, and all they depend on (moddep.lst), in loading
 * order, read into d->pcbuf (each padded to whole sectors).
 *
 * Why not in core.img: i386-pc images are LZMA-compressed, and under TCG
 * the decompression costs about 3 times what reading the same modules
 * uncompressed through int 13h does; Debian's multiboot pulls in linux,
 * normal and net (300 KB), so core.img stays the kernel and biosdisk
 * (23 KB) and its configuration loads the rest with insmod from
 * sector lists of the boot disk.
 */
static int load_pc_modules(struct dsk *d, bool fat)
{
	const char *roots[] = {
		d->mb.mb_version == 2 ? "multiboot2" : "multiboot",
		"part_gpt", "fat",
	};
	struct fmt_err e = { .path = GRUB_LIB "/i386-pc/moddep.lst",
			     .off = FMT_NOOFF };
	uint8_t *lst = NULL, *m = NULL, *nb;
	size_t lst_len = 0, mlen = 0;
	char p[256];

	if (slurp(e.path, 0, &lst, &lst_len) < 0)
		return -1;
	if (ukit_grub_moddep_order((const char *)lst, lst_len, roots,
				   fat ? 3 : 1,
				   d->pcmod, &d->npcmod, &e) < 0) {
		free(lst);
		cli_err(&e);
		return -1;
	}
	free(lst);
	for (unsigned i = 0; i < d->npcmod; i++) {
		snprintf(p, sizeof p, "%s/i386-pc/%s.mod", GRUB_LIB, d->pcmod[i]);
		if (slurp(p, UKIT_SECTOR, &m, &mlen) < 0)
			return -1;
		if (mlen > CORE_MAX || d->pclen + mlen > CORE_MAX - PC_CORE_ROOM) {
			cli_errx("disk: %s: the i386-pc modules pass %u bytes",
				 p, CORE_MAX - PC_CORE_ROOM);
			free(m);
			return -1;
		}
		nb = realloc(d->pcbuf, d->pclen + mlen);
		if (nb == NULL) {
			cli_errx("disk: out of memory");
			free(m);
			return -1;
		}
		d->pcbuf = nb;
		memcpy(d->pcbuf + d->pclen, m, mlen);
		d->pclen += mlen;
		d->pcmod_sectors[i] = mlen / UKIT_SECTOR;
		free(m);
	}
	return 0;
}

/*
 * The GRUB configuration embedded in an image: with (pc), core.img's,
 * which first loads the modules from the BIOS boot partition (at its
 * usual place, LBA UKIT_GPT_ALIGN, after core.img's room) and names
 * files on the ESP by partition, since its root is the whole boot disk.
 */
static int write_cfg(struct dsk *d, const char *path, bool pc)
{
	FILE *f = fopen(path, "we");
	char dev[32] = "";
	uint64_t lba = UKIT_GPT_ALIGN + PC_CORE_ROOM / UKIT_SECTOR;

	if (f == NULL) {
		cli_errx("disk: %s: %s", path, strerror(errno));
		return -1;
	}
	if (pc) {
		for (unsigned i = 0; i < d->npcmod; i++) {
			fprintf(f, "insmod ($root)%" PRIu64 "+%" PRIu64 "\n",
				lba, d->pcmod_sectors[i]);
			lba += d->pcmod_sectors[i];
		}
		snprintf(dev, sizeof dev, "($root,gpt%d)",
			 d->fw & FW_BIOS ? 2 : 1);
	}
	if (pc && d->klba != 0)
		fprintf(f, "%s ($root)%" PRIu64 "+%" PRIu64, d->mb.mb_version == 2 ?
			"multiboot2" : "multiboot", d->klba,
			(d->ksize + UKIT_SECTOR - 1) / UKIT_SECTOR);
	else
		fprintf(f, "%s %s/kernel", d->mb.mb_version == 2 ?
			"multiboot2" : "multiboot", dev);
	/*
	 * The kernel's name first: GRUB 2 passes only the words after the
	 * file, where QEMU's -kernel, SYSLINUX's mboot.c32 and GRUB Legacy
	 * pass the file's name and then the words, and kernels rely on
	 * that (Solo5's virtio binding skips the first word, Unikraft makes
	 * it argv[0]).  The same for a module: its file name.
	 */
	fputs(" " BOOT_KERNEL_NAME, f);
	for (size_t i = 0; i < d->nwords; i++) {
		fputc(' ', f);
		grub_quote(f, d->words[i]);
	}
	fputc('\n', f);
	for (unsigned i = 0; i < d->nmod; i++) {
		fputs(d->mb.mb_version == 2 ? "module2 " : "module ", f);
		fprintf(f, "%s/modules/%s %s\n", dev, d->mod_name[i],
			d->mod_name[i]);
	}
	fputs("boot\n", f);
	if (fclose(f) != 0) {
		cli_errx("disk: %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Start grub-mkimage for (target) writing (out). */
static int mkimage(struct dsk *d, const char *target, const char *out,
		   const char *cfg, const char *prefix, struct proc *pr)
{
	char dir[128], o[4400], c[4400];
	bool pc = strcmp(target, "i386-pc") == 0;
	const char *mb = d->mb.mb_version == 2 ? "multiboot2" : "multiboot";
	char *argv[] = {
		"grub-mkimage", "-O", (char *)target, "-d", dir, "-o", o,
		"-c", c, "-p", (char *)prefix,
		pc ? "biosdisk" : "efi_gop", "part_gpt", "fat", (char *)mb,
		"boot", NULL,
	};

	if (pc)
		argv[12] = NULL;    /* core.img loads the rest (load_pc_modules) */

	snprintf(dir, sizeof dir, "%s/%s", GRUB_LIB, target);
	snprintf(o, sizeof o, "%s", out);
	snprintf(c, sizeof c, "%s", cfg);
	if (access(dir, R_OK) != 0) {
		cli_errx("disk: %s: %s (GRUB's %s modules: Debian package "
			 "%s)", dir, strerror(errno), target,
			 pc ? "grub-pc-bin" : "grub-efi-amd64-bin");
		return -1;
	}
	return spawn(d, argv, NULL, 0, pr);
}

/*
 * Make the FAT file system of the ESP on the disk open on (fd) and copy
 * the staging tree (d->tmp/esp: EFI/BOOT/BOOTX64.EFI, kernel and modules
 * as links to /dev/fd/N of the inputs, ukitboot.cfg) onto it, in a fixed
 * order: two runs of mtools, three with modules.
 */
static int fill_esp(struct dsk *d, int fd, const struct ukit_bootdisk_layout *l)
{
	uint64_t off = l->esp_lba * UKIT_SECTOR;
	char img[64], t[32], h[32], serial[16];
	char *fmt[] = {
		"mformat", "-i", img, "-T", t, "-h", "64", "-s", "32", "-H", h,
		"-N", serial, "-v", "UKIT-BOOT", "::", NULL,
	};
	char *cp[MAX_MODULES + 8], efi[4400], kern[4400], cfg[4400];
	char mods[MAX_MODULES][4400];
	int keep[MAX_MODULES + 2], nk = 0, n = 0;

	snprintf(img, sizeof img, "/dev/fd/%d@@%" PRIu64, fd, off);
	snprintf(t, sizeof t, "%" PRIu64, l->esp_sectors);
	snprintf(h, sizeof h, "%" PRIu64, l->esp_lba);
	snprintf(serial, sizeof serial, "%02x%02x%02x%02x", d->seed[0],
		 d->seed[1], d->seed[2], d->seed[3]);
	snprintf(efi, sizeof efi, "%s/esp/EFI", d->tmp);
	snprintf(kern, sizeof kern, "%s/esp/kernel", d->tmp);
	snprintf(cfg, sizeof cfg, "%s/esp/ukitboot.cfg", d->tmp);
	keep[nk++] = fd;
	if (run(d, fmt, keep, 1) < 0)
		return -1;
	keep[nk++] = d->kfd;
	for (unsigned i = 0; i < d->nmod; i++)
		keep[nk++] = d->mod_fd[i];
	cp[n++] = "mcopy";
	cp[n++] = "-s";
	cp[n++] = "-Q";
	cp[n++] = "-i";
	cp[n++] = img;
	/* the kernel first: on the fresh FAT it lands at the start of the
	 * data area, in the block GRUB reads the FAT through anyway */
	cp[n++] = kern;
	cp[n++] = cfg;
	if (d->fw & FW_UEFI)
		cp[n++] = efi;
	cp[n++] = "::/";
	cp[n] = NULL;
	if (run(d, cp, keep, (unsigned)nk) < 0)
		return -1;
	if (d->nmod == 0)
		return 0;
	n = 5;
	for (unsigned i = 0; i < d->nmod; i++) {
		snprintf(mods[i], sizeof mods[i], "%s/esp/modules/%s", d->tmp,
			 d->mod_name[i]);
		cp[n++] = mods[i];
	}
	cp[n++] = "::/modules/";
	cp[n] = NULL;
	{
		char *md[] = { "mmd", "-i", img, "::/modules", NULL };

		if (run(d, md, keep, 1) < 0)
			return -1;
	}
	return run(d, cp, keep, (unsigned)nk);
}

/* The staging tree for fill_esp(). */
static int stage(struct dsk *d)
{
	char p[4400], l[32];

	snprintf(p, sizeof p, "%s/esp", d->tmp);
	if (mkdir(p, 0700) < 0)
		goto fail;
	if (d->fw & FW_UEFI) {
		snprintf(p, sizeof p, "%s/esp/EFI", d->tmp);
		if (mkdir(p, 0700) < 0)
			goto fail;
		snprintf(p, sizeof p, "%s/esp/EFI/BOOT", d->tmp);
		if (mkdir(p, 0700) < 0)
			goto fail;
	}
	snprintf(p, sizeof p, "%s/esp/kernel", d->tmp);
	snprintf(l, sizeof l, "/dev/fd/%d", d->kfd);
	if (symlink(l, p) < 0)
		goto fail;
	if (d->nmod > 0) {
		snprintf(p, sizeof p, "%s/esp/modules", d->tmp);
		if (mkdir(p, 0700) < 0)
			goto fail;
	}
	for (unsigned i = 0; i < d->nmod; i++) {
		snprintf(p, sizeof p, "%s/esp/modules/%s", d->tmp,
			 d->mod_name[i]);
		snprintf(l, sizeof l, "/dev/fd/%d", d->mod_fd[i]);
		if (symlink(l, p) < 0)
			goto fail;
	}
	return 0;
fail:
	cli_errx("disk: %s: %s", p, strerror(errno));
	return -1;
}

/*
 * Where mcopy put /kernel on the ESP (it is the first file copied onto a
 * fresh FAT, so its clusters follow each other): d->klba, once the bytes
 * there are the kernel's.  Otherwise (or when the disk cannot be read
 * back) d->klba stays 0 and core.img reads the kernel through GPT and FAT.
 * The disk (wfd) may be open for writing only: it is read through
 * /proc/self/fd, as mtools does through /dev/fd.
 */
static void locate_kernel(struct dsk *d, int wfd,
			  const struct ukit_bootdisk_layout *l)
{
	struct fmt_err e = { .off = FMT_NOOFF };
	size_t n = 4u << 20, chunk = 1u << 20;
	uint64_t esp = l->esp_lba * UKIT_SECTOR, sector, size;
	uint8_t *fs, *a = NULL, *b = NULL;
	char p[64];
	int fd;

	snprintf(p, sizeof p, "/proc/self/fd/%d", wfd);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	if (n > l->esp_sectors * UKIT_SECTOR)
		n = l->esp_sectors * UKIT_SECTOR;
	fs = malloc(n);
	if (fs == NULL || ukit_pread_full(fd, fs, n, (off_t)esp) != (ssize_t)n)
		goto out;
	if (ukit_fat_root_file(fs, n, "KERNEL     ", &sector, &size, &e) != 1 ||
	    size != d->ksize || sector >= l->esp_sectors ||
	    (d->ksize + UKIT_SECTOR - 1) / UKIT_SECTOR > l->esp_sectors - sector)
		goto out;
	a = malloc(chunk);
	b = malloc(chunk);
	if (a == NULL || b == NULL)
		goto out;
	for (uint64_t off = 0; off < d->ksize; off += chunk) {
		size_t m = d->ksize - off < chunk ? (size_t)(d->ksize - off) : chunk;

		if (ukit_pread_full(d->kfd, a, m, (off_t)off) != (ssize_t)m ||
		    ukit_pread_full(fd, b, m, (off_t)(esp + sector * UKIT_SECTOR +
						      off)) != (ssize_t)m ||
		    memcmp(a, b, m) != 0)
			goto out;
	}
	d->klba = l->esp_lba + sector;
out:
	close(fd);
	free(fs);
	free(a);
	free(b);
}

static int open_tmpfile(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	char p[4400];

	if (fd >= 0)
		return fd;
	snprintf(p, sizeof p, "%s/disk.raw", dir);
	fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		unlink(p);
	return fd;
}

/*
 * A kernel with empty PT_LOADs inside other PT_LOADs (Unikraft's
 * tls_load) is refused by GRUB 2.06 ("overlap detected", then "you
 * need to load the kernel first"): the disk gets a copy where those
 * program headers are PT_NULL, which loads the same bytes at the same
 * addresses, made as set-manifest makes its copies (a plan of patches
 * applied to a reflink or copy of the input).  d->kfd becomes the
 * copy's (a temporary file in d->tmp).
 */
_Static_assert(UKIT_MB_MAX_EMPTY <= ELFEDIT_MAX_PATCHES,
	       "one patch for each empty PT_LOAD");

static int grub_kernel_copy(struct dsk *d)
{
	struct elfedit_plan plan = { .in_size = d->ksize, .out_size = d->ksize };
	struct fmt_err e = { .path = d->kernel, .off = FMT_NOOFF };
	int fd;

	if (d->mb.nempty == 0)
		return 0;
	for (unsigned i = 0; i < d->mb.nempty; i++) {
		plan.p[i].off = d->mb.empty_ph[i];
		plan.p[i].len = 4;                       /* p_type: PT_NULL */
		if ((plan.p[i].data = calloc(1, 4)) == NULL) {
			ukit_elfedit_plan_free(&plan);
			cli_errx("disk: out of memory");
			return -1;
		}
		plan.n = i + 1;
	}
	if ((fd = open_tmpfile(d->tmp)) < 0) {
		ukit_elfedit_plan_free(&plan);
		cli_errx("disk: %s: temporary file: %s", d->tmp, strerror(errno));
		return -1;
	}
	if (ukit_elfedit_apply_fd(d->kfd, fd, &plan, &e) < 0) {
		ukit_elfedit_plan_free(&plan);
		close(fd);
		cli_err(&e);
		return -1;
	}
	ukit_elfedit_plan_free(&plan);
	for (unsigned i = 0; i < d->mb.nempty; i++)
		cli_errx("note: disk: %s: the program header at offset 0x%" PRIx64
			 " is an empty PT_LOAD inside another, which GRUB refuses; "
			 "the disk's copy has it as PT_NULL", d->kernel,
			 d->mb.empty_ph[i]);
	close(d->kfd);
	d->kfd = fd;
	return 0;
}

/* ---- the command ---------------------------------------------------- */

enum {
	OPT_CMDLINE = 256, OPT_FIRMWARE, OPT_SIZE, OPT_MODULE, OPT_LEVEL,
	OPT_CLUSTER, OPT_COMPAT,
};


static int build(struct dsk *d, enum ukit_image_format ofmt, const char *out,
		 const struct convert_opts *co)
{
	struct fmt_err e = { .off = FMT_NOOFF };
	struct ukit_bootdisk_layout l;
	struct ukit_gpt_part parts[2];
	struct outfile of;
	struct proc pc = { .pid = -1 }, ef = { .pid = -1 };
	bool of_open = false;
	uint8_t *core = NULL, *boot = NULL, dguid[16];
	size_t core_len = 0, boot_len = 0;
	uint64_t esp_bytes, efi_len = 0, core_lba;
	char cfg[4400], pccfg[4400], corep[4400], efip[4400], prefix[32];
	const char *tdir = getenv("TMPDIR");
	struct stat st;
	int dfd = -1, rc = 1;
	unsigned np = 0;
	struct image *img = NULL;

	snprintf(d->tmp, sizeof d->tmp, "%s/ukit-disk.XXXXXX",
		 tdir && *tdir ? tdir : "/tmp");
	if (mkdtemp(d->tmp) == NULL) {
		cli_errx("disk: %s: %s", d->tmp, strerror(errno));
		d->tmp[0] = '\0';
		return 1;
	}
	snprintf(cfg, sizeof cfg, "%s/esp/ukitboot.cfg", d->tmp);
	snprintf(pccfg, sizeof pccfg, "%s/core.cfg", d->tmp);
	snprintf(corep, sizeof corep, "%s/core.img", d->tmp);
	snprintf(efip, sizeof efip, "%s/esp/EFI/BOOT/BOOTX64.EFI", d->tmp);
	snprintf(prefix, sizeof prefix, "(,gpt%d)/", d->fw & FW_BIOS ? 2 : 1);
	if (grub_kernel_copy(d) < 0 || stage(d) < 0 ||
	    write_cfg(d, cfg, false) < 0)
		goto out;
	/* both images at once, and the inputs hashed meanwhile; core.img's
	 * root is the boot disk ("()"): it reads by sector lists.  Without
	 * Multiboot modules, core.img reads the kernel by its sectors on the
	 * ESP: it is made once the ESP is written */
	if (d->fw & FW_BIOS && d->nmod > 0 &&
	    (load_pc_modules(d, true) < 0 || write_cfg(d, pccfg, true) < 0 ||
	     mkimage(d, "i386-pc", corep, pccfg, "()", &pc) < 0))
		goto out;
	if (d->fw & FW_UEFI && mkimage(d, "x86_64-efi", efip, cfg, prefix,
				       &ef) < 0)
		goto out;
	if (make_seed(d) < 0)
		goto out;
	if (d->fw & FW_UEFI) {
		if (reap(&ef, false) < 0)
			goto out;
		if (stat(efip, &st) < 0) {
			cli_errx("disk: %s: %s", efip, strerror(errno));
			goto out;
		}
		efi_len = (uint64_t)st.st_size;
	}

	/* FAT room: each file rounded to 64 KiB clusters, plus tables */
	esp_bytes = (1u << 20) + ((efi_len + 0xffff) & ~0xffffull) +
		((d->ksize + 0xffff) & ~0xffffull) + 0x10000;
	for (unsigned i = 0; i < d->nmod; i++)
		esp_bytes += (d->mod_size[i] + 0xffff) & ~0xffffull;
	esp_bytes += esp_bytes / 16;
	if (ukit_bootdisk_layout(d->fw & FW_BIOS ? CORE_MAX : 0, esp_bytes,
				 d->size, &l, &e) < 0) {
		cli_err(&e);
		goto out;
	}

	memset(parts, 0, sizeof parts);
	if (d->fw & FW_BIOS) {
		ukit_guid_parse(UKIT_GPT_TYPE_BIOS, parts[np].type);
		parts[np].first = l.bios_lba;
		parts[np].last = l.bios_lba + l.bios_sectors - 1;
		snprintf(parts[np].name, sizeof parts[np].name, "BIOS boot");
		if (ukit_guid_derive(d->seed, "bios-boot", parts[np].guid,
				     &e) < 0)
			goto err;
		np++;
	}
	ukit_guid_parse(UKIT_GPT_TYPE_ESP, parts[np].type);
	parts[np].first = l.esp_lba;
	parts[np].last = l.esp_lba + l.esp_sectors - 1;
	snprintf(parts[np].name, sizeof parts[np].name, "EFI system");
	if (ukit_guid_derive(d->seed, "esp", parts[np].guid, &e) < 0 ||
	    ukit_guid_derive(d->seed, "disk", dguid, &e) < 0)
		goto err;
	np++;

	if (ofmt == IMG_RAW) {
		if (ukit_outfile_open(&of, out, 0644, &e) < 0) {
			e.path = out;
			cli_err(&e);
			goto out;
		}
		of_open = true;
		dfd = of.fd;
	} else {
		dfd = open_tmpfile(d->tmp);
		if (dfd < 0) {
			cli_errx("disk: %s: temporary file: %s", d->tmp,
				 strerror(errno));
			goto out;
		}
	}
	e.path = ofmt == IMG_RAW ? out : "(temporary raw disk)";
	if (ftruncate(dfd, (off_t)(l.sectors * UKIT_SECTOR)) < 0) {
		ukit_fmt_errno(&e, FMT_NOOFF, "cannot size the disk to %" PRIu64
			  " bytes", l.sectors * UKIT_SECTOR);
		goto err;
	}
	if (fill_esp(d, dfd, &l) < 0)
		goto out;
	if (d->fw & FW_BIOS) {
		if (pc.pid < 0)
			locate_kernel(d, dfd, &l);
		if (pc.pid < 0 && (load_pc_modules(d, d->klba == 0) < 0 ||
				   write_cfg(d, pccfg, true) < 0 ||
				   mkimage(d, "i386-pc", corep, pccfg, "()",
					   &pc) < 0))
			goto out;
		if (reap(&pc, false) < 0 ||
		    slurp(corep, UKIT_SECTOR, &core, &core_len) < 0 ||
		    slurp(GRUB_LIB "/i386-pc/boot.img", 0, &boot, &boot_len) < 0)
			goto out;
		if (l.bios_lba != UKIT_GPT_ALIGN || core_len > PC_CORE_ROOM ||
		    PC_CORE_ROOM + d->pclen > l.bios_sectors * UKIT_SECTOR) {
			cli_errx("disk: %s: %zu bytes (room for %u), then %zu of "
				 "modules: more than the %" PRIu64 " bytes of "
				 "the BIOS boot partition", corep, core_len,
				 PC_CORE_ROOM, d->pclen,
				 l.bios_sectors * UKIT_SECTOR);
			goto out;
		}
		core_lba = l.bios_lba;
		if (ukit_grub_pc_patch(boot, boot_len, core, core_len,
				       core_lba, &e) < 0) {
			e.path = corep;
			goto err;
		}
		if (ukit_pwrite_full(dfd, d->pcbuf, d->pclen, l.bios_lba *
				UKIT_SECTOR + PC_CORE_ROOM) < 0) {
			ukit_fmt_errno(&e, l.bios_lba * UKIT_SECTOR + PC_CORE_ROOM,
				  "write the i386-pc modules");
			goto err;
		}
		if (ukit_pwrite_full(dfd, core, core_len,
				core_lba * UKIT_SECTOR) < 0) {
			ukit_fmt_errno(&e, core_lba * UKIT_SECTOR,
				  "write core.img");
			goto err;
		}
	}
	if (ukit_gpt_write(dfd, e.path, l.sectors, dguid, parts, np, boot,
			   &e) < 0)
		goto err;
	if (ofmt == IMG_QCOW2) {
		struct image_opts io = { .force_share = true };

		if (ukit_image_open(dfd, e.path, IMG_RAW, &io, &img, &e) < 0)
			goto err;
		if (ukit_outfile_open(&of, out, 0644, &e) < 0) {
			e.path = out;
			cli_err(&e);
			goto out;
		}
		of_open = true;
		if (ukit_convert_to_qcow2(img, e.path, of.fd, out, co, &e) < 0)
			goto err;
	}
	e.path = out;
	of_open = false;
	if (ukit_outfile_commit(&of, &e) < 0)
		goto err;
	rc = 0;
	goto out;
err:
	cli_err(&e);
out:
	if (pc.pid > 0)
		reap(&pc, true);
	if (ef.pid > 0)
		reap(&ef, true);
	if (of_open)
		ukit_outfile_abort(&of);
	ukit_image_close(img);
	if (dfd >= 0 && ofmt != IMG_RAW)
		close(dfd);
	free(core);
	free(boot);
	free(d->pcbuf);
	d->pcbuf = NULL;
	rm_tmp(d);
	return rc;
}

int cmd_disk(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "firmware", required_argument, NULL, OPT_FIRMWARE },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "module", required_argument, NULL, OPT_MODULE },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "cluster-size", required_argument, NULL, OPT_CLUSTER },
		{ "compat", required_argument, NULL, OPT_COMPAT },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct convert_opts co = {
		.q = { .cluster_bits = 16, .version = 3, .comp = QCOW2W_NONE },
		.level = -1, .threads = 1,
	};
	struct dsk d = { .kfd = -1, .fw = FW_BIOS | FW_UEFI };
	enum ukit_image_format ofmt = IMG_PROBE;
	const char *cmdline = "", *sde, *out;
	bool have_level = false;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct fmt_err e = { .off = FMT_NOOFF };
	struct stat st;
	uint64_t v;
	char *end;
	int c, rc = 1;

	co.threads = ncpu > 0 ? (unsigned)ncpu : 1;
	while ((c = getopt_long(argc, argv, "O:c:j:q", lo, NULL)) != -1) {
		switch (c) {
		case 'O':
			ofmt = ukit_image_format_parse(optarg);
			if (ofmt != IMG_RAW && ofmt != IMG_QCOW2) {
				cli_errx("disk: -O wants raw or qcow2, not '%s'",
					 optarg);
				return 2;
			}
			break;
		case OPT_CMDLINE:
			cmdline = optarg;
			break;
		case OPT_FIRMWARE:
			if (strcmp(optarg, "bios") == 0)
				d.fw = FW_BIOS;
			else if (strcmp(optarg, "uefi") == 0)
				d.fw = FW_UEFI;
			else if (strcmp(optarg, "both") == 0)
				d.fw = FW_BIOS | FW_UEFI;
			else {
				cli_errx("disk: --firmware wants bios, uefi or "
					 "both");
				return 2;
			}
			break;
		case OPT_SIZE:
			if (parse_size(optarg, &d.size) < 0 || d.size == 0 ||
			    d.size % UKIT_SECTOR != 0) {
				cli_errx("disk: --size wants a multiple of 512 "
					 "bytes (suffix K, M or G)");
				return 2;
			}
			break;
		case OPT_MODULE:
			if (d.nmod == MAX_MODULES) {
				cli_errx("disk: more than %d --module",
					 MAX_MODULES);
				return 2;
			}
			d.mod_path[d.nmod] = optarg;
			end = strrchr(optarg, '/');
			d.mod_name[d.nmod] = end ? end + 1 : optarg;
			if (!safe_name(d.mod_name[d.nmod])) {
				cli_errx("disk: --module %s: the file name must "
					 "be 1-64 of A-Z a-z 0-9 . _ - + and not "
					 "start with a dot", optarg);
				return 2;
			}
			for (unsigned i = 0; i < d.nmod; i++)
				if (strcmp(d.mod_name[i],
					   d.mod_name[d.nmod]) == 0) {
					cli_errx("disk: two modules named %s",
						 d.mod_name[i]);
					return 2;
				}
			d.nmod++;
			break;
		case 'c':
			if (strcmp(optarg, "zlib") == 0)
				co.q.comp = QCOW2W_ZLIB;
			else if (strcmp(optarg, "zstd") == 0)
				co.q.comp = QCOW2W_ZSTD;
			else {
				cli_errx("disk: unknown compression '%s' (zlib "
					 "or zstd)", optarg);
				return 2;
			}
			break;
		case OPT_LEVEL:
			v = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v > 22) {
				cli_errx("disk: --level wants 0..22");
				return 2;
			}
			co.level = (int)v;
			have_level = true;
			break;
		case OPT_CLUSTER:
			if (parse_size(optarg, &v) < 0 || v < 512 ||
			    v > (2u << 20) || (v & (v - 1)) != 0) {
				cli_errx("disk: --cluster-size wants a power of "
					 "two from 512 to 2M");
				return 2;
			}
			co.q.cluster_bits = (unsigned)__builtin_ctzll(v);
			break;
		case OPT_COMPAT:
			if (strcmp(optarg, "0.10") == 0)
				co.q.version = 2;
			else if (strcmp(optarg, "1.1") == 0)
				co.q.version = 3;
			else {
				cli_errx("disk: --compat wants 0.10 or 1.1");
				return 2;
			}
			break;
		case 'j':
			v = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 ||
			    v > CONVERT_MAX_THREADS) {
				cli_errx("disk: -j wants 1..%d",
					 CONVERT_MAX_THREADS);
				return 2;
			}
			co.threads = (unsigned)v;
			break;
		case 'q':
			break;
		default:
			cli_usage(stderr, 2);
		}
	}
	if (argc - optind != 2 || ofmt == IMG_PROBE)
		cli_usage(stderr, 2);   /* says which of -O, KERNEL, OUT */
	d.kernel = argv[optind];
	/* a directory, a missing or an empty KERNEL: the shared words */
	if ((c = cli_open_seekable(d.kernel, true)) < 0)
		return 1;
	close(c);
	out = argv[optind + 1];
	if (strcmp(out, "-") == 0) {
		cli_errx("disk: cannot write a disk to standard output");
		return 2;
	}
	if (ofmt != IMG_QCOW2 && (co.q.comp != QCOW2W_NONE ||
				  co.q.cluster_bits != 16 || co.q.version != 3)) {
		cli_errx("disk: -c, --cluster-size and --compat are for -O qcow2");
		return 2;
	}
	if (have_level && co.q.comp == QCOW2W_NONE) {
		cli_errx("disk: --level needs -c zlib or -c zstd");
		return 2;
	}
	if ((co.q.comp == QCOW2W_ZLIB && have_level && co.level > 9) ||
	    (co.q.comp == QCOW2W_ZSTD && have_level && co.level < 1)) {
		cli_errx("disk: --level wants 0..9 for zlib, 1..22 for zstd");
		return 2;
	}
	if (co.q.comp == QCOW2W_ZSTD && co.q.version == 2) {
		cli_errx("disk: -c zstd needs --compat 1.1");
		return 2;
	}
	if (split_cmdline(cmdline, &d) < 0)
		return 2;
	d.epoch = FAT_EPOCH_MIN;
	sde = getenv("SOURCE_DATE_EPOCH");
	if (sde != NULL && *sde != '\0') {
		long long t;

		errno = 0;
		t = strtoll(sde, &end, 10);
		if (errno != 0 || *end != '\0' || t < 0 ||
		    t > 4102444799LL) {
			cli_errx("disk: SOURCE_DATE_EPOCH '%s' is not a time "
				 "from 1970 to 2099", sde);
			rc = 2;
			goto out;
		}
		d.epoch = t < FAT_EPOCH_MIN ? FAT_EPOCH_MIN : t;
	}

	if ((d.kfd = cli_open_seekable(d.kernel, false)) < 0)
		goto out;
	e.path = d.kernel;
	if (fstat(d.kfd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ukit_fmt_errf(&e, FMT_NOOFF, "not a regular file");
		cli_err(&e);
		goto out;
	}
	d.ksize = (uint64_t)st.st_size;
	if (d.ksize > MAX_FAT_FILE) {
		ukit_fmt_errf(&e, FMT_NOOFF, "%" PRIu64 " bytes: FAT holds files of "
			 "up to 4 GiB - 1", d.ksize);
		cli_err(&e);
		goto out;
	}
	if (ukit_mb_parse_fd(d.kfd, d.ksize, &d.mb, &e) < 0) {
		cli_err(&e);
		solo5_note(d.kfd, d.kernel, -1);
		goto out;
	}
	solo5_note(d.kfd, d.kernel, 0);
	for (unsigned i = 0; i < d.nmod; i++) {
		d.mod_fd[i] = cli_open_seekable(d.mod_path[i], false);
		if (d.mod_fd[i] < 0)
			goto out;
		if (fstat(d.mod_fd[i], &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size > MAX_FAT_FILE) {
			e.path = d.mod_path[i];
			ukit_fmt_errf(&e, FMT_NOOFF, "not a regular file of up to "
				 "4 GiB - 1");
			cli_err(&e);
			goto out;
		}
		d.mod_size[i] = (uint64_t)st.st_size;
	}
	rc = build(&d, ofmt, out, &co);
out:
	if (d.kfd >= 0)
		close(d.kfd);
	for (unsigned i = 0; i < d.nmod; i++)
		if (d.mod_fd[i] > 0)
			close(d.mod_fd[i]);
	for (size_t i = 0; i < d.nwords; i++)
		free(d.words[i]);
	free(d.words);
	return rc;
}
