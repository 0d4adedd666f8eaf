# tern build. `make` builds libtern.a and the tern binary; `make test` builds and runs every test.
# BUILD=dir picks the output folder (parallel work trees may use their own); SAN=1 adds ASan+UBSan;
# CUDA=1 compiles src/cuda/*.cu with nvcc and links the CUDA backend into tern.
BUILD ?= build
CC ?= cc
NVCC ?= /usr/local/cuda/bin/nvcc
CUDA_ARCH ?= -gencode arch=compute_90a,code=sm_90a
OPT ?= -O2
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -g $(OPT) \
              -Iinclude -Isrc -MMD -MP -pthread
LDLIBS = -lm -lpthread -lpcre2-8
ifeq ($(SAN),1)
  CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
endif
CFLAGS = $(CFLAGS_BASE) $(EXTRA_CFLAGS)

# SIMD kernels live in files named *_avx2.c / *_avx512.c and get the matching target flags;
# the rest of the library is built for the baseline x86-64 and dispatches at run time.
AVX2_FLAGS = -mavx2 -mfma -mf16c
AVX512_FLAGS = $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni

LIB_SRC := $(shell find src -name '*.c' | sort)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CU_SRC  := $(shell find src -name '*.cu' | sort)
# NCCL (tensor parallelism) ships with the CUDA installs this project targets; where its header
# is missing, the compile-only check skips that one file rather than failing the whole build.
ifeq ($(wildcard $(dir $(NVCC))../include/nccl.h),)
  CU_SRC := $(filter-out src/cuda/cuda_nccl.cu,$(CU_SRC))
  $(if $(filter cuda-check,$(MAKECMDGOALS)),$(warning nccl.h not found next to $(NVCC): src/cuda/cuda_nccl.cu not compiled))
endif
CU_OBJ  := $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
TOOL_SRC := $(shell find tools -name '*.c' | sort)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_COMMON_OBJ := $(TEST_COMMON_SRC:%.c=$(BUILD)/%.o)

ifeq ($(CUDA),1)
  CFLAGS += -DTN_CUDA=1
  LIB_ALL_OBJ = $(LIB_OBJ) $(CU_OBJ)
  LDLIBS += -L/usr/local/cuda/lib64 -lcudart -lcublas -lnccl -lstdc++ -Wl,-rpath,/usr/local/cuda/lib64
else
  LIB_ALL_OBJ = $(LIB_OBJ)
endif

.PHONY: all test run cuda-check clean format fuzz
all: $(BUILD)/tern

$(BUILD)/libtern.a: $(LIB_ALL_OBJ)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(BUILD)/tools/%.o: CFLAGS += -DTN_SOURCE_DIR=\"$(CURDIR)\"

$(BUILD)/tern: $(TOOL_OBJ) $(BUILD)/libtern.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libtern.a $(LDLIBS)

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++17 $(CUDA_ARCH) -Iinclude -Isrc -Xcompiler -Wall,-Werror -MMD -MP -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(TEST_COMMON_OBJ) $(BUILD)/libtern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(TEST_COMMON_OBJ) $(BUILD)/libtern.a $(LDLIBS)

# Compile every CUDA source (no GPU needed): what CI does to keep the CUDA backend building.
cuda-check: $(CU_OBJ)

# The main job on the bundled default model.
run: $(BUILD)/tern
	$(BUILD)/tern run -p "ROMEO:" -n 64

test: $(BUILD)/tern $(TEST_BIN)
	TERN_BIN=$(BUILD)/tern sh tests/run.sh $(BUILD)/tests

# Coverage-guided fuzzing (clang + libFuzzer), SECONDS=300 by default; FUZZ_TARGET=gguf (the GGUF
# reader, default), tokenizer (encoder/decoder on every test vocabulary) or serve (the server's HTTP
# and request parsers).
fuzz:
	sh tests/fuzz/run.sh $(or $(SECONDS),300) $(or $(FUZZ_TARGET),gguf)

format:
	clang-format -i $(LIB_SRC) $(TOOL_SRC) $(TEST_SRC) $(shell find src include tools tests -name '*.h')

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TEST_COMMON_OBJ:.o=.d) $(CU_OBJ:.o=.d)
