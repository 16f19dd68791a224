include $(sort $(wildcard $(BR2_EXTERNAL_PINHOLE_PATH)/package/*/*.mk))
