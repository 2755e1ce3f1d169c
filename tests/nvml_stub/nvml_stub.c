/*
 * A stand-in libnvidia-ml.so.1 for tests on machines without a GPU.
 *
 * It implements the NVML functions inferwatch's collector calls (through nvidia-ml-py's
 * ctypes bindings, unchanged), with values and failures scripted by a text file named by
 * the NVML_STUB_CONFIG environment variable. The file is re-read whenever its path, size
 * or mtime changes, so a test can change the GPUs between two collections.
 *
 *   count N                          number of GPUs
 *   init_error CODE                  nvmlInit fails with CODE (9 = driver not loaded)
 *   gpu I name TEXT...               the rest of the line
 *   gpu I uuid TEXT | busid TEXT
 *   gpu I util GPU_PCT MEM_PCT
 *   gpu I mem TOTAL USED FREE        bytes
 *   gpu I power MILLIWATTS | energy MILLIJOULES | temp CELSIUS | reasons BITMASK
 *   gpu I clocks SM_MHZ MEM_MHZ
 *   gpu I proc PID USED_BYTES        repeatable
 *   gpu I xid N                      repeatable; each delivered once by nvmlEventSetWait
 *   gpu I putil PID SM_PCT           repeatable; per-process utilisation samples
 *   gpu I fail FIELD CODE            FIELD: name uuid pci util mem power energy temp clock
 *   gpu I sleep FIELD MS                    reasons procs events, or all
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <pthread.h>

#define MAX_GPUS 64
#define MAX_PROCS 16
#define MAX_XIDS 64
#define NFIELDS 14
#define OK 0
#define ERR_INVALID_ARGUMENT 2
#define ERR_DRIVER_NOT_LOADED 9
#define ERR_INSUFFICIENT_SIZE 7
#define ERR_TIMEOUT 10
#define XID_EVENT 0x8ULL

static const char *FIELDS[NFIELDS] = {"name", "uuid", "pci", "util", "mem", "power", "energy",
                                      "temp", "clock", "reasons", "procs", "events", "putil", "all"};
enum { F_NAME, F_UUID, F_PCI, F_UTIL, F_MEM, F_POWER, F_ENERGY, F_TEMP, F_CLOCK, F_REASONS,
       F_PROCS, F_EVENTS, F_PUTIL, F_ALL };

typedef struct { unsigned int pid; unsigned long long used; } proc_t;

typedef struct {
    char name[96], uuid[96], busid[32];
    unsigned int util_gpu, util_mem, power_mw, temp, sm_mhz, mem_mhz;
    unsigned long long mem_total, mem_used, mem_free, energy_mj, reasons;
    proc_t procs[MAX_PROCS];
    int nprocs;
    proc_t putil[MAX_PROCS]; /* pid, SM % */
    int nputil;
    unsigned long long xids[MAX_XIDS];
    int nxids;
    int fail[NFIELDS];
    int sleep_ms[NFIELDS];
} gpu_t;

static gpu_t gpus[MAX_GPUS];
static int gpu_count, init_error;
static int delivered[MAX_GPUS];            /* xid events already handed out, kept over reloads */
static unsigned long long registered[MAX_GPUS];
static char loaded_path[4096];
static struct timespec loaded_mtime;
static off_t loaded_size = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int field_index(const char *f) {
    for (int i = 0; i < NFIELDS; i++)
        if (strcmp(FIELDS[i], f) == 0) return i;
    return -1;
}

static void parse_gpu_line(gpu_t *g, const char *key, char *rest) {
    char f[32];
    long long a = 0, b = 0, c = 0;
    if (strcmp(key, "name") == 0) snprintf(g->name, sizeof g->name, "%s", rest);
    else if (strcmp(key, "uuid") == 0) snprintf(g->uuid, sizeof g->uuid, "%s", rest);
    else if (strcmp(key, "busid") == 0) snprintf(g->busid, sizeof g->busid, "%s", rest);
    else if (strcmp(key, "util") == 0 && sscanf(rest, "%lld %lld", &a, &b) == 2) {
        g->util_gpu = a; g->util_mem = b;
    } else if (strcmp(key, "mem") == 0 && sscanf(rest, "%lld %lld %lld", &a, &b, &c) == 3) {
        g->mem_total = a; g->mem_used = b; g->mem_free = c;
    } else if (strcmp(key, "power") == 0) g->power_mw = strtoull(rest, NULL, 10);
    else if (strcmp(key, "energy") == 0) g->energy_mj = strtoull(rest, NULL, 10);
    else if (strcmp(key, "temp") == 0) g->temp = strtoull(rest, NULL, 10);
    else if (strcmp(key, "reasons") == 0) g->reasons = strtoull(rest, NULL, 0);
    else if (strcmp(key, "clocks") == 0 && sscanf(rest, "%lld %lld", &a, &b) == 2) {
        g->sm_mhz = a; g->mem_mhz = b;
    } else if (strcmp(key, "proc") == 0 && g->nprocs < MAX_PROCS &&
               sscanf(rest, "%lld %lld", &a, &b) == 2) {
        g->procs[g->nprocs].pid = a; g->procs[g->nprocs++].used = b;
    } else if (strcmp(key, "putil") == 0 && g->nputil < MAX_PROCS &&
               sscanf(rest, "%lld %lld", &a, &b) == 2) {
        g->putil[g->nputil].pid = a; g->putil[g->nputil++].used = b;
    } else if (strcmp(key, "xid") == 0 && g->nxids < MAX_XIDS)
        g->xids[g->nxids++] = strtoull(rest, NULL, 10);
    else if ((strcmp(key, "fail") == 0 || strcmp(key, "sleep") == 0) &&
             sscanf(rest, "%31s %lld", f, &a) == 2 && field_index(f) >= 0) {
        if (key[0] == 'f') g->fail[field_index(f)] = a;
        else g->sleep_ms[field_index(f)] = a;
    }
}

static void parse_line(char *line) {
    char key[32], sub[32];
    int idx, n = 0;
    line[strcspn(line, "\r\n")] = 0;
    if (sscanf(line, "count %d", &gpu_count) == 1 || sscanf(line, "init_error %d", &init_error) == 1)
        return;
    if (sscanf(line, "gpu %d %31s %n", &idx, sub, &n) == 2 && n > 0 && idx >= 0 && idx < MAX_GPUS) {
        snprintf(key, sizeof key, "%s", sub);
        parse_gpu_line(&gpus[idx], key, line + n);
    }
}

/* Re-read the script when it changed; the caller holds `lock`. */
static void reload(void) {
    const char *path = getenv("NVML_STUB_CONFIG");
    struct stat st;
    if (path == NULL || stat(path, &st) != 0) {
        gpu_count = 0;
        return;
    }
    if (strcmp(path, loaded_path) == 0 && st.st_size == loaded_size &&
        st.st_mtim.tv_sec == loaded_mtime.tv_sec && st.st_mtim.tv_nsec == loaded_mtime.tv_nsec)
        return;
    FILE *fp = fopen(path, "r");
    if (fp == NULL) return;
    if (strcmp(path, loaded_path) != 0) memset(delivered, 0, sizeof delivered); /* new script */
    memset(gpus, 0, sizeof gpus);
    gpu_count = 0;
    init_error = 0;
    char line[512];
    while (fgets(line, sizeof line, fp)) parse_line(line);
    fclose(fp);
    snprintf(loaded_path, sizeof loaded_path, "%s", path);
    loaded_size = st.st_size;
    loaded_mtime = st.st_mtim;
}

/* Resolve a handle to its scripted GPU, applying the field's scripted delay and error. */
static int enter(void *handle, int field, gpu_t **out) {
    pthread_mutex_lock(&lock);
    reload();
    intptr_t idx = (intptr_t)handle - 1;
    if (idx < 0 || idx >= gpu_count) {
        pthread_mutex_unlock(&lock);
        return ERR_INVALID_ARGUMENT;
    }
    gpu_t *g = &gpus[idx];
    int ms = g->sleep_ms[field] + g->sleep_ms[F_ALL];
    int err = g->fail[F_ALL] ? g->fail[F_ALL] : g->fail[field];
    pthread_mutex_unlock(&lock);
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    *out = g;
    return err;
}

#define ENTER(h, f)                       \
    gpu_t *g;                             \
    int rc_ = enter((h), (f), &g);        \
    if (rc_ != OK) return rc_;

int nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    pthread_mutex_lock(&lock);
    reload();
    int rc = init_error;
    pthread_mutex_unlock(&lock);
    return rc;
}
int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
int nvmlShutdown(void) { return OK; }

const char *nvmlErrorString(int result) {
    static char buf[64];
    snprintf(buf, sizeof buf, "stub NVML error %d", result);
    return buf;
}

int nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    snprintf(version, length, "550.54.15-stub");
    return OK;
}

int nvmlDeviceGetCount_v2(unsigned int *count) {
    pthread_mutex_lock(&lock);
    reload();
    *count = gpu_count;
    pthread_mutex_unlock(&lock);
    return OK;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device) {
    unsigned int n;
    nvmlDeviceGetCount_v2(&n);
    if (index >= n) return ERR_INVALID_ARGUMENT;
    *device = (void *)(intptr_t)(index + 1);
    return OK;
}

int nvmlDeviceGetName(void *h, char *name, unsigned int length) {
    ENTER(h, F_NAME);
    snprintf(name, length, "%s", g->name);
    return OK;
}

int nvmlDeviceGetUUID(void *h, char *uuid, unsigned int length) {
    ENTER(h, F_UUID);
    snprintf(uuid, length, "%s", g->uuid);
    return OK;
}

typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} pci_info_t;

int nvmlDeviceGetPciInfo_v3(void *h, pci_info_t *pci) {
    ENTER(h, F_PCI);
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busId, sizeof pci->busId, "%s", g->busid);
    return OK;
}

int nvmlDeviceGetUtilizationRates(void *h, unsigned int *util /* {gpu, memory} */) {
    ENTER(h, F_UTIL);
    util[0] = g->util_gpu;
    util[1] = g->util_mem;
    return OK;
}

int nvmlDeviceGetMemoryInfo(void *h, unsigned long long *mem /* {total, free, used} */) {
    ENTER(h, F_MEM);
    mem[0] = g->mem_total;
    mem[1] = g->mem_free;
    mem[2] = g->mem_used;
    return OK;
}

int nvmlDeviceGetPowerUsage(void *h, unsigned int *mw) {
    ENTER(h, F_POWER);
    *mw = g->power_mw;
    return OK;
}

int nvmlDeviceGetTotalEnergyConsumption(void *h, unsigned long long *mj) {
    ENTER(h, F_ENERGY);
    *mj = g->energy_mj;
    return OK;
}

int nvmlDeviceGetTemperature(void *h, int sensor, unsigned int *temp) {
    ENTER(h, F_TEMP);
    if (sensor != 0) return ERR_INVALID_ARGUMENT;
    *temp = g->temp;
    return OK;
}

int nvmlDeviceGetClockInfo(void *h, int type, unsigned int *mhz) {
    ENTER(h, F_CLOCK);
    if (type == 1) *mhz = g->sm_mhz;
    else if (type == 2) *mhz = g->mem_mhz;
    else return ERR_INVALID_ARGUMENT;
    return OK;
}

int nvmlDeviceGetCurrentClocksEventReasons(void *h, unsigned long long *reasons) {
    ENTER(h, F_REASONS);
    *reasons = g->reasons;
    return OK;
}

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} process_info_t;

int nvmlDeviceGetComputeRunningProcesses_v3(void *h, unsigned int *count, process_info_t *infos) {
    ENTER(h, F_PROCS);
    if (g->nprocs == 0) {
        *count = 0;
        return OK;
    }
    if (infos == NULL || *count < (unsigned int)g->nprocs) {
        *count = g->nprocs;
        return ERR_INSUFFICIENT_SIZE;
    }
    for (int i = 0; i < g->nprocs; i++) {
        infos[i].pid = g->procs[i].pid;
        infos[i].usedGpuMemory = g->procs[i].used;
        infos[i].gpuInstanceId = infos[i].computeInstanceId = 0xFFFFFFFF;
    }
    *count = g->nprocs;
    return OK;
}

typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil, memUtil, encUtil, decUtil;
} process_util_t;

/* One sample per scripted process, stamped now; NOT_FOUND when there is none (as NVML). */
int nvmlDeviceGetProcessUtilization(void *h, process_util_t *samples, unsigned int *count,
                                    unsigned long long last_seen) {
    (void)last_seen;
    ENTER(h, F_PUTIL);
    if (g->nputil == 0) return 6; /* NVML_ERROR_NOT_FOUND */
    if (samples == NULL || *count < (unsigned int)g->nputil) {
        *count = g->nputil;
        return ERR_INSUFFICIENT_SIZE;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int i = 0; i < g->nputil; i++) {
        memset(&samples[i], 0, sizeof samples[i]);
        samples[i].pid = g->putil[i].pid;
        samples[i].smUtil = (unsigned int)g->putil[i].used;
        samples[i].timeStamp = now.tv_sec * 1000000ULL + now.tv_nsec / 1000;
    }
    *count = g->nputil;
    return OK;
}

typedef struct {
    void *device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} event_data_t;

static int event_set_token;

int nvmlEventSetCreate(void **set) {
    *set = &event_set_token;
    return OK;
}
int nvmlEventSetFree(void *set) { (void)set; return OK; }

int nvmlDeviceRegisterEvents(void *h, unsigned long long types, void *set) {
    (void)set;
    ENTER(h, F_EVENTS);
    registered[(intptr_t)h - 1] |= types;
    return OK;
}

/* Hands out the next undelivered scripted XID of any registered GPU, else times out. */
int nvmlEventSetWait_v2(void *set, event_data_t *data, unsigned int timeout_ms) {
    (void)set; (void)timeout_ms;
    pthread_mutex_lock(&lock);
    reload();
    for (int i = 0; i < gpu_count; i++) {
        if (!(registered[i] & XID_EVENT) || delivered[i] >= gpus[i].nxids) continue;
        data->device = (void *)(intptr_t)(i + 1);
        data->eventType = XID_EVENT;
        data->eventData = gpus[i].xids[delivered[i]++];
        data->gpuInstanceId = data->computeInstanceId = 0xFFFFFFFF;
        pthread_mutex_unlock(&lock);
        return OK;
    }
    pthread_mutex_unlock(&lock);
    return ERR_TIMEOUT;
}
