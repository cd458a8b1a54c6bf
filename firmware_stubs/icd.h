/* Every number of the payload link ICD v2 (docs/icd.md), as the firmware uses it.
 *
 * One #define per number, named after the runtime's message catalogue
 * (runtime/link/catalogue.py), so that tests/link/test_icd_header.py parses this file
 * and checks every group against it, both ways (a name or value missing or different
 * on either side fails): ICD_VERSION, ICD_DTYPE_* (runtime/link/tensors.py),
 * ICD_SERVICE_*, ICD_SUBTYPE_* (the catalogue's MESSAGES), ICD_VERIFY_*,
 * ICD_SEVERITY_*, ICD_ACK_*, ICD_ERR_*, ICD_EVENT_*, ICD_FUNC_*, ICD_SLOT_*,
 * ICD_MODE_*, ICD_HK1_*, ICD_HK2_*, ICD_HK_STRUCTURE_*, ICD_NO_ACTIVE_SLOT, and the
 * layout sizes ICD_LEN_* and ICD_COUNT_* (from the catalogue's layouts).
 * Keep one `#define NAME value` per line: the test reads them with a regex.
 */
#ifndef ICD_H
#define ICD_H

#define ICD_VERSION 2 /* TM[17,2] and HK structure 2 carry it */

/* §3 dtype codes (ONNX TensorProto.DataType) of tensor chunks */
#define ICD_DTYPE_FLOAT32 1
#define ICD_DTYPE_UINT8 2
#define ICD_DTYPE_INT8 3
#define ICD_DTYPE_INT32 6
#define ICD_DTYPE_INT64 7
#define ICD_DTYPE_FLOAT16 10

/* §4 services */
#define ICD_SERVICE_VERIFICATION 1
#define ICD_SERVICE_HOUSEKEEPING 3
#define ICD_SERVICE_EVENTS 5
#define ICD_SERVICE_FUNCTIONS 8
#define ICD_SERVICE_TEST 17
#define ICD_SERVICE_INFERENCE 200
#define ICD_SERVICE_MODEL_SLOTS 201

/* §4 subtypes, named as the catalogue's messages (services 1 and 5: below) */
#define ICD_SUBTYPE_ARE_YOU_ALIVE 1        /* TC[17,1] */
#define ICD_SUBTYPE_ALIVE 2                /* TM[17,2]: icd_version u8 */
#define ICD_SUBTYPE_HK_REQUEST 27          /* TC[3,27]: structure ID u16 */
#define ICD_SUBTYPE_HK_REPORT 25           /* TM[3,25] */
#define ICD_SUBTYPE_FUNCTION 1             /* TC[8,1] */
#define ICD_SUBTYPE_PUT_INPUT_CHUNK 1      /* TC[200,1] */
#define ICD_SUBTYPE_RUN 2                  /* TC[200,2] */
#define ICD_SUBTYPE_OUTPUT_CHUNK 3         /* TM[200,3] */
#define ICD_SUBTYPE_RESULT_DONE 4          /* TM[200,4] */
#define ICD_SUBTYPE_RESEND_OUTPUTS 5       /* TC[200,5] */
#define ICD_SUBTYPE_BEGIN_UPLOAD 1         /* TC[201,1] */
#define ICD_SUBTYPE_UPLOAD_CHUNK 2         /* TC[201,2] */
#define ICD_SUBTYPE_COMMIT 3               /* TC[201,3] */
#define ICD_SUBTYPE_SLOT_STATUS_REQUEST 4  /* TC[201,4] */
#define ICD_SUBTYPE_SLOT_STATUS 5          /* TM[201,5] */

/* §4 service 1 (TM[1,x]) subtypes */
#define ICD_VERIFY_ACCEPTANCE_SUCCESS 1
#define ICD_VERIFY_ACCEPTANCE_FAILURE 2
#define ICD_VERIFY_COMPLETION_SUCCESS 7
#define ICD_VERIFY_COMPLETION_FAILURE 8

/* §4 service 5 (TM[5,x]) subtypes */
#define ICD_SEVERITY_INFO 1
#define ICD_SEVERITY_LOW 2
#define ICD_SEVERITY_MEDIUM 3
#define ICD_SEVERITY_HIGH 4

/* §3 TC ack flags */
#define ICD_ACK_ACCEPTANCE 0x1
#define ICD_ACK_COMPLETION 0x8

/* §8 error codes (u16) */
#define ICD_ERR_BAD_SERVICE 1
#define ICD_ERR_BAD_SUBTYPE 2
#define ICD_ERR_BAD_LENGTH 3
#define ICD_ERR_BAD_ARGUMENT 4
#define ICD_ERR_AUTH_FAILED 5
#define ICD_ERR_REPLAY 6
#define ICD_ERR_NO_MODEL 7
#define ICD_ERR_SHAPE_MISMATCH 8
#define ICD_ERR_DTYPE_MISMATCH 9
#define ICD_ERR_UNKNOWN_REQUEST 10
#define ICD_ERR_SLOT_BUSY 11
#define ICD_ERR_HASH_MISMATCH 12
#define ICD_ERR_MODEL_INVALID 13
#define ICD_ERR_UNCORRECTABLE_UPSET 14
#define ICD_ERR_INTERNAL 15
#define ICD_ERR_COUNTER_WINDOW 16

/* §9 events (u16) */
#define ICD_EVENT_UPSET_CORRECTED 1
#define ICD_EVENT_UPSET_UNCORRECTABLE 2
#define ICD_EVENT_VOTE_DISAGREEMENT 3
#define ICD_EVENT_MODEL_ACTIVATED 4
#define ICD_EVENT_MODEL_REJECTED 5
#define ICD_EVENT_AUTH_FAILURE 6
#define ICD_EVENT_SLOT_CORRUPT 7
#define ICD_EVENT_CHECKSUM_MISMATCH 8

/* §6 functions (u16) */
#define ICD_FUNC_SET_PROTECTION 1
#define ICD_FUNC_SCRUB_NOW 2
#define ICD_FUNC_ACTIVATE_SLOT 3
#define ICD_FUNC_RESET_COUNTERS 4

/* §4 TM[201,5] and §7 slot states (u8) */
#define ICD_SLOT_EMPTY 0
#define ICD_SLOT_RECEIVING 1
#define ICD_SLOT_COMMITTED 2
#define ICD_SLOT_ACTIVE 3
#define ICD_SLOT_CORRUPT 4

/* §5 protection modes (u8) */
#define ICD_MODE_NONE 0
#define ICD_MODE_SCRUB 1
#define ICD_MODE_DWC 2
#define ICD_MODE_TMR 3
#define ICD_MODE_ABFT 4

/* §5 housekeeping: structure IDs, and each field's index in wire order. Structure 1
 * is the 16 u32 fields then 2 u8; structure 2 adds icd_version (u8) then 4 u32. */
#define ICD_HK_STRUCTURE_1 1
#define ICD_HK_STRUCTURE_2 2
#define ICD_NO_ACTIVE_SLOT 0xFF /* active_slot while no slot serves */
#define ICD_HK1_UPTIME_S 0
#define ICD_HK1_INFERENCES_OK 1
#define ICD_HK1_INFERENCES_FAILED 2
#define ICD_HK1_SCRUB_PASSES 3
#define ICD_HK1_UPSETS_DETECTED 4
#define ICD_HK1_UPSETS_CORRECTED 5
#define ICD_HK1_UNCORRECTABLE 6
#define ICD_HK1_VOTE_DISAGREEMENTS 7
#define ICD_HK1_REEXECUTIONS 8
#define ICD_HK1_FRAMES_OK 9
#define ICD_HK1_FRAMES_BAD_CRC 10
#define ICD_HK1_FRAMES_BAD_FORMAT 11
#define ICD_HK1_FRAMES_OVERSIZE 12
#define ICD_HK1_TC_REJECTED 13
#define ICD_HK1_AUTH_REJECTED 14
#define ICD_HK1_DUPLICATES_IGNORED 15
#define ICD_HK1_ACTIVE_SLOT 16      /* u8 */
#define ICD_HK1_PROTECTION_MODE 17  /* u8 */
#define ICD_HK2_ICD_VERSION 18      /* u8 */
#define ICD_HK2_CHECKSUM_MISMATCHES 19
#define ICD_HK2_OPS_REEXECUTED 20
#define ICD_HK2_SLOT_INTEGRITY_FAILURES 21
#define ICD_HK2_INPUTS_REFUSED 22
#define ICD_COUNT_HK1_FIELDS 18
#define ICD_COUNT_HK2_FIELDS 23

/* Layout sizes (bytes of a packet's application/source data) */
#define ICD_LEN_REQUEST_ID 4     /* packet ID + sequence control of the TC */
#define ICD_LEN_FAILURE 10       /* TM[1,2]/[1,8]: request ID, code u16, detail u32 */
#define ICD_LEN_EVENT 10         /* TM[5,x]: event ID u16, aux1 u32, aux2 u32 */
#define ICD_LEN_ALIVE 1          /* TM[17,2]: icd_version u8 */
#define ICD_LEN_HK1 68           /* TM[3,25] structure 1, with its structure ID */
#define ICD_LEN_HK2 85           /* TM[3,25] structure 2, with its structure ID */
#define ICD_LEN_RESULT_DONE 20   /* TM[200,4] */
#define ICD_LEN_CHUNK_FIXED 7    /* TC[200,1]/TM[200,3]: request_id u32, index u8, dtype u8, rank u8 */
#define ICD_LEN_CHUNK_TAIL 8     /* then dims u32 x rank, then total_bytes u32, offset u32, data */
#define ICD_LEN_RESEND_HEADER 4  /* TC[200,5]: request_id u32, then ranges */
#define ICD_LEN_RANGE 9          /* TC[200,5] range: output_index u8, offset u32, length u32 */

#endif
