/*
 * serial-shell: a line-oriented command prompt on COM1, for console tests
 * (the control socket's console, tkvm web). Prints "serial-shell ready" and
 * the prompt "tkvm> ", then reads the UART by polling LSR bit 0 (data
 * ready), echoes what it reads and runs each line when it gets CR or LF:
 *
 *   rev TEXT   prints TEXT reversed
 *   sum A B    prints A + B (decimal or 0x hex)
 *   quit       ends with "serial-shell ok" (tkvm status 33)
 *
 * Anything else prints "unknown command: LINE". Backspace and DEL erase;
 * a line longer than MAX_LINE is cut (the rest is dropped). It never exits
 * on its own: a test stops it with `quit` or tkvm stop.
 */
#include "runtime.h"

#define SERIAL_LSR_DATA_READY 0x01
#define MAX_LINE 120

static char line[MAX_LINE + 1];

static int serial_getc(void)
{
    while (!(inb(SERIAL_LSR) & SERIAL_LSR_DATA_READY))
        __asm__ volatile("pause");
    return inb(SERIAL_PORT);
}

static int starts_with_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    return strncmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

static void run_line(const char *text)
{
    if (*text == '\0')
        return;
    if (starts_with_word(text, "rev")) {
        const char *arg = skip_spaces(text + 3);
        for (size_t i = strlen(arg); i > 0; i--)
            serial_putc(arg[i - 1]);
        serial_putc('\n');
    } else if (starts_with_word(text, "sum")) {
        const char *a = skip_spaces(text + 3);
        size_t a_len = word_len(a);
        const char *b = skip_spaces(a + a_len);
        uint64_t x, y;
        if (a_len == 0 || parse_u64(a, a_len, &x) < 0 || parse_u64(b, word_len(b), &y) < 0 || *skip_spaces(b + word_len(b)) != '\0')
            serial_puts("usage: sum A B\n");
        else
            serial_printf("%llu\n", (unsigned long long)(x + y));
    } else if (strcmp(text, "quit") == 0) {
        guest_pass("serial-shell ok");
    } else {
        serial_printf("unknown command: %s\n", text);
    }
}

int guest_main(struct boot_params *bp)
{
    (void)bp;
    serial_puts("serial-shell ready\n");
    for (;;) {
        serial_puts("tkvm> ");
        size_t len = 0;
        int previous = 0;
        for (;;) {
            int c = serial_getc();
            if (c == '\n' && previous == '\r') { /* CR LF: the line already ended at CR */
                previous = c;
                continue;
            }
            previous = c;
            if (c == '\r' || c == '\n') {
                serial_putc('\n');
                break;
            }
            if (c == 0x7f || c == '\b') {
                if (len > 0) {
                    len--;
                    serial_puts("\b \b");
                }
            } else if (c >= ' ' && c <= '~' && len < MAX_LINE) {
                line[len++] = (char)c;
                serial_putc((char)c);
            }
        }
        line[len] = '\0';
        run_line(line);
    }
}
