/*
 * curl_exit.c - a program that sets up and tears down libcurl (and with it
 * OpenSSL) around some CPU work, as any libcurl client does, for
 * curl_exit.sh: scry must not load anything at exit that re-initialises
 * what the program tore down (libdebuginfod's libcurl did, and crashed it).
 */
#include <curl/curl.h>

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 300000000UL; i++) x += i;
    curl_global_cleanup();
    return 0;
}
