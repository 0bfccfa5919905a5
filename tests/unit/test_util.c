/* Unit tests of the growable buffer (common/util.c): printing appends
 * exactly, whether or not it fits in the room left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static void test_buf_printf_every_size(void **state)
{
	char want[70000], piece[700];
	struct buf b = {0};
	size_t wn = 0;
	(void)state;

	/* Pieces of 0..600 characters, so that every amount of room left,
	 * the exact fit and the one-byte overflow all happen. */
	for (int i = 0; i <= 600; i += 7) {
		memset(piece, 'a' + i % 26, (size_t)i);
		piece[i] = '\0';
		buf_printf(&b, "%d:%s|", i, piece);
		wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "%d:%s|", i, piece);
		assert_int_equal(b.len, wn);
		assert_true(b.cap > b.len);
		assert_string_equal(b.p, want);
	}
	buf_free(&b);
}

static void test_xasprintf(void **state)
{
	(void)state;
	char *s = xasprintf("%s-%05d", "x", 42);
	assert_string_equal(s, "x-00042");
	free(s);
	s = xasprintf("%s", "");
	assert_string_equal(s, "");
	free(s);
}

static char dir[] = "/tmp/orchd-util-XXXXXX";

static size_t entries(void)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;

	while ((e = readdir(d)))
		n += e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, "..") != 0);
	closedir(d);
	return n;
}

static void test_write_atomic_keeps_owner_and_mode(void **state)
{
	char *path = xasprintf("%s/refresh_token", dir);
	struct stat st;
	(void)state;

	/* New: 0600. */
	assert_int_equal(file_write_atomic(path, "one"), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	char *s = file_read(path, 100);
	assert_string_equal(s, "one\n");
	free(s);
	/* Rewritten: mode (and owner) as they were. */
	assert_int_equal(chmod(path, 0640), 0);
	if (geteuid() == 0)
		assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(file_write_atomic(path, "two"), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	if (geteuid() == 0)
		assert_true(st.st_uid == 65534 && st.st_gid == 65534);
	s = file_read(path, 100);
	assert_string_equal(s, "two\n");
	free(s);
	assert_int_equal(entries(), 1); /* no temporary file left */

	/* A rename that fails (onto a directory) leaves no temporary file
	 * holding the token, and the target as it was. */
	char *sub = xasprintf("%s/adir", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(file_write_atomic(sub, "secret"), -1);
	assert_int_equal(entries(), 2);
	rmdir(sub);
	free(sub);
	unlink(path);
	free(path);
}

static void test_lock_is_exclusive_and_follows_renames(void **state)
{
	char *path = xasprintf("%s/locked", dir);
	int a = -1, b = -1;
	(void)state;

	assert_int_equal(file_lock(path, &a), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(file_write_atomic(path, "x"), 0);
	assert_int_equal(file_lock(path, &a), 0);
	/* A second open file description is refused while a holds it. */
	assert_int_equal(file_lock(path, &b), 1);
	/* Replaced while held: the new file is another lock. */
	assert_int_equal(file_write_atomic(path, "y"), 0);
	assert_int_equal(file_lock(path, &b), 0);
	char *s = file_read_fd(b, 100);
	assert_string_equal(s, "y\n");
	free(s);
	close(a);
	close(b);
	unlink(path);
	free(path);
	assert_true(errno_temporary(EMFILE) && errno_temporary(ENFILE));
	assert_false(errno_temporary(ENOENT) || errno_temporary(EACCES));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_printf_every_size),
		cmocka_unit_test(test_xasprintf),
		cmocka_unit_test(test_write_atomic_keeps_owner_and_mode),
		cmocka_unit_test(test_lock_is_exclusive_and_follows_renames),
	};
	if (!mkdtemp(dir))
		return 1;
	int rc = cmocka_run_group_tests_name("util", tests, NULL, NULL);
	if (rmdir(dir) != 0)
		rc = 1;
	return rc;
}
