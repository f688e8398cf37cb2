/* Kernel command line lookups (boot_params.hdr.cmd_line_ptr). */
#include "runtime.h"

const char *cmdline_text(const struct boot_params *bp)
{
    if (bp->cmd_line_ptr == 0)
        return "";
    return (const char *)(uintptr_t)bp->cmd_line_ptr;
}

const char *cmdline_get(const struct boot_params *bp, const char *key)
{
    const char *p = cmdline_text(bp);
    size_t key_len = strlen(key);
    const char *found = NULL;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        size_t len = word_len(p);
        if (len >= key_len && strncmp(p, key, key_len) == 0) {
            if (len == key_len)
                found = p + len; /* bare "key": empty value */
            else if (p[key_len] == '=')
                found = p + key_len + 1;
        }
        p += len;
    }
    return found;
}

int cmdline_get_u64(const struct boot_params *bp, const char *key, uint64_t *out)
{
    const char *value = cmdline_get(bp, key);
    if (value == NULL)
        return 0;
    return parse_u64(value, word_len(value), out) == 0 ? 1 : -1;
}
